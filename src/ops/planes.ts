/**
 * Binding ranges ("slabs") of NCHW tensors larger than one storage binding.
 *
 * WebGPU caps a binding at `maxStorageBufferBindingSize` (128 MiB on lavapipe), while an SD VAE
 * decoding 512 px images holds 256 MiB activations (256 channels at 512²). Kernels over such
 * tensors run once per slab: a run of whole samples when one sample fits, else a run of
 * channels of one sample. Slab offsets must meet the device's offset alignment.
 */

import { ShapeError } from "../errors.ts";
import type { BufferBinding } from "../gpu/context.ts";
import type { Tensor } from "../tensor.ts";

/** Samples [sampleBase, +sampleCount) × channels [channelBase, +channelCount) of a tensor. */
export interface PlaneSlab {
  sampleBase: number;
  sampleCount: number;
  channelBase: number;
  channelCount: number;
}

/** A run of whole samples. */
export interface SampleChunk {
  sampleBase: number;
  sampleCount: number;
}

function sampleBytes(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, d) => a * d, 1) * 4;
}

/** How many whole samples of a [B, ...] f32 tensor fit one binding (at least 1). */
export function samplesPerBinding(shape: readonly number[], maxBindingBytes: number): number {
  return Math.max(1, Math.floor(maxBindingBytes / Math.max(sampleBytes(shape), 1)));
}

/** Runs of at most `perChunk` samples covering the batch. */
export function sampleChunks(batch: number, perChunk: number): SampleChunk[] {
  const chunks: SampleChunk[] = [];
  for (let b = 0; b < batch; b += perChunk) {
    chunks.push({ sampleBase: b, sampleCount: Math.min(perChunk, batch - b) });
  }
  return chunks;
}

/**
 * The slabs of a chunk of [B, C, ...]: the chunk itself when it fits one binding, else (a
 * single sample) runs of channels starting at multiples of `channelMultiple`.
 */
export function chunkSlabs(
  shape: readonly number[],
  chunk: SampleChunk,
  maxBindingBytes: number,
  channelMultiple = 1,
): PlaneSlab[] {
  const channels = shape[1];
  const whole = { ...chunk, channelBase: 0, channelCount: channels };
  if (chunk.sampleCount * sampleBytes(shape) <= maxBindingBytes) return [whole];
  if (chunk.sampleCount !== 1) {
    throw new RangeError(
      `chunkSlabs: a chunk of ${chunk.sampleCount} samples must fit one binding`,
    );
  }
  const planeBytes = sampleBytes(shape) / Math.max(channels, 1);
  const perSlab = Math.floor(maxBindingBytes / planeBytes / channelMultiple) * channelMultiple;
  if (perSlab < 1) {
    throw new ShapeError(
      `tensor [${shape}]: ${channelMultiple} channel plane(s) of ${planeBytes} bytes do not ` +
        `fit one ${maxBindingBytes}-byte binding; use a smaller image`,
    );
  }
  const slabs: PlaneSlab[] = [];
  for (let c = 0; c < channels; c += perSlab) {
    slabs.push({ ...chunk, channelBase: c, channelCount: Math.min(perSlab, channels - c) });
  }
  return slabs;
}

/** Every slab of a [B, C, ...] tensor: sample chunks that fit a binding, split by channel if needed. */
export function planeSlabs(
  shape: readonly number[],
  maxBindingBytes: number,
  channelMultiple = 1,
): PlaneSlab[] {
  return sampleChunks(shape[0], samplesPerBinding(shape, maxBindingBytes)).flatMap((chunk) =>
    chunkSlabs(shape, chunk, maxBindingBytes, channelMultiple)
  );
}

/** The binding of one slab of `t` (shape [B, C, ...], f32). */
export function slabBinding(t: Tensor, slab: PlaneSlab): BufferBinding {
  const [, channels] = t.shape;
  const planeElements = t.shape.slice(2).reduce((a, d) => a * d, 1);
  const base = t.binding();
  const offset = base.offset +
    (slab.sampleBase * channels + slab.channelBase) * planeElements * 4;
  const alignment = t.gpu.limits.minStorageBufferOffsetAlignment;
  if (offset % alignment !== 0) {
    throw new ShapeError(
      `tensor [${t.shape}] is split into several bindings, but slab (sample ${slab.sampleBase}, ` +
        `channel ${slab.channelBase}) starts at byte ${offset}, not a multiple of ${alignment}; ` +
        `use image sizes whose H·W is a multiple of 64`,
    );
  }
  const bytes = slab.sampleCount * slab.channelCount * planeElements * 4;
  return { buffer: base.buffer, offset, size: Math.max(4, Math.ceil(bytes / 4) * 4) };
}
