/**
 * What the launchers of texture-reading kernels (linear's tiled kernel, conv) share: the
 * lavapipe SIMD width their tiles are sized by, a dispatch that binds texture views, and a
 * per-GPU cache holding texture copies of immutable weight tensors plus one scratch texture
 * for the activations. Dispatches run in recording order, so back-to-back calls may reuse the
 * scratch texture.
 */

import type { BufferBinding, Gpu } from "../gpu/context.ts";
import type { Tensor } from "../tensor.ts";

/** SIMD lanes of a llvmpipe adapter ("llvmpipe (LLVM 15.0.6, 256 bits)" → 8), else 8. */
export function simdLanes(gpu: Gpu): number {
  const bits = /(\d+) bits/.exec(gpu.adapterDescription);
  const lanes = bits ? Number(bits[1]) / 32 : 8;
  return Math.min(16, Math.max(4, lanes));
}

/** Records a dispatch whose bindings include textures (Gpu.dispatch takes buffers only). */
export function recordTextureDispatch(
  gpu: Gpu,
  name: string,
  wgsl: string,
  bindings: readonly (GPUTextureView | BufferBinding)[],
  workgroups: readonly [number, number, number],
): void {
  const entries = bindings.map((b, binding) => {
    if (!("buffer" in b)) return { binding, resource: b };
    gpu.checkBinding(name, binding, b);
    return { binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size } };
  });
  const pipeline = gpu.pipelines.get(name, wgsl);
  const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  gpu.recorder.dispatch(pipeline, bindGroup, workgroups, name);
}

/** A weight's texture copy; `bytes` counts its textures' memory. */
export interface PackedWeight {
  bytes: number;
}

interface GpuTextures<W> {
  weights: Map<Tensor, W>;
  scratch: GPUTexture | null;
}

/**
 * Texture copies of weight tensors, keyed by tensor (weights are immutable, so a copy stays
 * valid while its tensor lives), and one scratch texture, per GPU.
 */
export class TextureCache<W extends PackedWeight> {
  readonly #byGpu = new WeakMap<Gpu, GpuTextures<W>>();
  readonly #texturesOf: (weight: W) => readonly GPUTexture[];

  /** `texturesOf` names the textures of a copy, for freeing them. */
  constructor(texturesOf: (weight: W) => readonly GPUTexture[]) {
    this.#texturesOf = texturesOf;
  }

  #of(gpu: Gpu): GpuTextures<W> {
    let held = this.#byGpu.get(gpu);
    if (!held) {
      held = { weights: new Map(), scratch: null };
      this.#byGpu.set(gpu, held);
    }
    return held;
  }

  #destroy(held: GpuTextures<W>, tensor: Tensor, copy: W): void {
    for (const texture of this.#texturesOf(copy)) texture.destroy();
    held.weights.delete(tensor);
  }

  /** The copy of `weight`, made by `pack` (which records the packing dispatches) on a miss. */
  weight(gpu: Gpu, weight: Tensor, pack: () => W): W {
    const held = this.#of(gpu);
    const hit = held.weights.get(weight);
    if (hit) return hit;
    // Drop the copies of weights released since the last miss (they can never be passed again).
    const stale = [...held.weights.entries()].filter(([t]) => t.released);
    if (stale.length > 0) {
      gpu.flush();
      for (const [t, copy] of stale) this.#destroy(held, t, copy);
    }
    const copy = pack();
    held.weights.set(weight, copy);
    return copy;
  }

  /** Frees the copy of `weight` now, if there is one. */
  forget(gpu: Gpu, weight: Tensor): void {
    const held = this.#byGpu.get(gpu);
    const copy = held?.weights.get(weight);
    if (!held || !copy) return;
    gpu.flush();
    this.#destroy(held, weight, copy);
  }

  /**
   * The scratch texture, grown (never shrunk) to at least `size` texels per axis (depth 1 for
   * a 2D texture); `descriptor` says what a new one is.
   */
  scratch(
    gpu: Gpu,
    size: readonly [number, number, number],
    descriptor: Omit<GPUTextureDescriptor, "size">,
  ): GPUTexture {
    const held = this.#of(gpu);
    const old = held.scratch;
    if (
      old && old.width >= size[0] && old.height >= size[1] && old.depthOrArrayLayers >= size[2]
    ) {
      return old;
    }
    if (old) {
      gpu.flush();
      old.destroy();
    }
    held.scratch = gpu.device.createTexture({
      ...descriptor,
      size: [
        Math.max(size[0], old?.width ?? 0),
        Math.max(size[1], old?.height ?? 0),
        Math.max(size[2], old?.depthOrArrayLayers ?? 0),
      ],
    });
    return held.scratch;
  }

  /** Bytes held on `gpu` (weight copies and the rgba32 scratch texture). */
  bytes(gpu: Gpu): number {
    const held = this.#byGpu.get(gpu);
    if (!held) return 0;
    const s = held.scratch;
    let bytes = s ? s.width * s.height * s.depthOrArrayLayers * 16 : 0;
    for (const copy of held.weights.values()) bytes += copy.bytes;
    return bytes;
  }

  /** Frees the scratch texture and every weight copy except those `keep` holds on to. */
  release(gpu: Gpu, keep: (copy: W) => boolean = () => false): void {
    const held = this.#byGpu.get(gpu);
    if (!held) return;
    gpu.flush();
    for (const [t, copy] of held.weights) {
      if (!keep(copy)) this.#destroy(held, t, copy);
    }
    held.scratch?.destroy();
    held.scratch = null;
  }
}
