/**
 * Launcher for y = act(x·Wᵀ + b): x [..., K] f32, W [N, K] f32 or f16 (checkpoint layout), b [N].
 *
 * On CPU adapters (lavapipe/llvmpipe) the operands go through rgba storage textures, which that
 * driver loads an order of magnitude faster than storage buffers (see shaders/linear.ts). x is
 * packed into one shared scratch texture on every call (3–5% of the product at K = 1152, ~15% at
 * K = 4608: lavapipe's texture stores are slow); W is packed once and cached per weight tensor,
 * because packing it on every call would cost as much as the product at small M. Dispatches run
 * in recording order, so back-to-back calls may reuse the scratch texture. Other adapters use the
 * buffer-reading kernel.
 */

import {
  type Activation,
  directLinearGrid,
  type DirectLinearShape,
  directLinearWgsl,
  K_TEXEL_ALIGN,
  PACK_WORKGROUP,
  type PackShape,
  packTexelsWgsl,
  tiledLinearGrid,
  type TiledLinearShape,
  type TiledLinearTile,
  tiledLinearWgsl,
  type WeightTexelFormat,
} from "../../shaders/linear.ts";
import { ShapeError } from "../errors.ts";
import type { BufferBinding, Gpu } from "../gpu/context.ts";
import { Tensor } from "../tensor.ts";

export type { Activation, TiledLinearTile } from "../../shaders/linear.ts";

export interface LinearOptions {
  activation?: Activation;
  /**
   * Kernel choice, for tests and benchmarks: "tiled" (storage textures, the CPU-adapter default),
   * "direct" (storage buffers, the default elsewhere) or "auto".
   */
  kernel?: "auto" | "tiled" | "direct";
  /** Register tile override for the tiled kernel (benchmark sweeps). */
  tile?: TiledLinearTile;
}

/** Floating-point operations of an [M, K]·[K, N] product (one multiply and one add per term). */
export function matmulFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

/** True for software adapters, where the tiled texture kernel is the fast one. */
export function isCpuAdapter(gpu: Gpu): boolean {
  return gpu.cpuKernels;
}

/** SIMD lanes of a llvmpipe adapter ("llvmpipe (LLVM 15.0.6, 256 bits)" → 8), else 8. */
function simdLanes(gpu: Gpu): number {
  const bits = /(\d+) bits/.exec(gpu.adapterDescription);
  const lanes = bits ? Number(bits[1]) / 32 : 8;
  return Math.min(16, Math.max(4, lanes));
}

/**
 * Default register tile of the tiled kernel, measured on lavapipe (2 cores, 256-bit SIMD) with
 * bench/linear_bench.ts: 16×8 outputs per lane, 4 texels (16 k) per iteration; 16×16 over 2 texels
 * when f16 weights halve the weight loads. Small M or N shrink the tile so no lane spends its
 * time on clamped repeats of the last row or column.
 */
export function defaultTiledTile(
  m: number,
  n: number,
  lanes: number,
  weightFormat: WeightTexelFormat,
): TiledLinearTile {
  const tile = weightFormat === "f16x8"
    ? { rowsPerLane: 16, colsPerLane: 16, kBlock: 2 }
    : { rowsPerLane: 16, colsPerLane: 8, kBlock: 4 };
  if (m < tile.rowsPerLane) tile.rowsPerLane = m;
  tile.colsPerLane = Math.min(tile.colsPerLane, Math.ceil(n / lanes));
  return tile;
}

interface TextureChunk {
  texture: GPUTexture;
  view: GPUTextureView;
  rowBase: number;
  rows: number;
}

interface CachedWeight {
  chunks: TextureChunk[];
  format: WeightTexelFormat;
  bytes: number;
  /** The weight's buffer was freed: this texture is its only copy (see `keepWeightInTexture`). */
  only: boolean;
}

interface LinearResources {
  weights: Map<Tensor, CachedWeight>;
  scratch: GPUTexture | null;
}

const resourcesByGpu = new WeakMap<Gpu, LinearResources>();

function resources(gpu: Gpu): LinearResources {
  let res = resourcesByGpu.get(gpu);
  if (!res) {
    res = { weights: new Map(), scratch: null };
    resourcesByGpu.set(gpu, res);
  }
  return res;
}

/** Bytes held by the linear kernels' textures (weight copies and the x scratch texture). */
export function linearCacheBytes(gpu: Gpu): number {
  const res = resourcesByGpu.get(gpu);
  if (!res) return 0;
  let bytes = res.scratch ? res.scratch.width * res.scratch.height * 16 : 0;
  for (const w of res.weights.values()) bytes += w.bytes;
  return bytes;
}

/**
 * Frees the cached weight textures and the scratch texture. Call it after changing a weight
 * tensor's contents in place (the cache assumes weights are immutable) or to return memory.
 * Textures that are a weight's only copy (`keepWeightInTexture`) stay until that weight is
 * released.
 */
export function releaseLinearCaches(gpu: Gpu): void {
  const res = resourcesByGpu.get(gpu);
  if (!res) return;
  gpu.flush();
  for (const [t, w] of res.weights) {
    if (w.only) continue;
    for (const c of w.chunks) c.texture.destroy();
    res.weights.delete(t);
  }
  res.scratch?.destroy();
  res.scratch = null;
}

/** True when `linear` with kernel "auto" reads weights [N, k] through textures on this GPU. */
function usesTextures(gpu: Gpu, k: number): boolean {
  return isCpuAdapter(gpu) && k > 0 && paddedTexels(k) <= gpu.limits.maxTextureDimension2D;
}

/**
 * Packs `weight` ([N, K] f32 or f16) into its cached texture now and frees its buffer, so the
 * weight is held once instead of twice on adapters where the tiled kernel reads only the texture
 * (lavapipe/llvmpipe). Afterwards the weight works with `linear` (kernel "auto" or "tiled") and
 * nothing else; releasing it frees the texture. Returns false, keeping the buffer, on adapters
 * that use the buffer-reading kernel.
 */
export function keepWeightInTexture(weight: Tensor): boolean {
  const gpu = weight.gpu;
  if (weight.shape.length !== 2 || (weight.dtype !== "f32" && weight.dtype !== "f16")) {
    throw new ShapeError(
      `keepWeightInTexture: expected an [N, K] f32/f16 weight, got [${weight.shape}] ${weight.dtype}`,
    );
  }
  const k = weight.shape[1];
  if (!usesTextures(gpu, k)) return false;
  const entry = cachedWeight(gpu, weight, paddedTexels(k));
  entry.only = true;
  weight.detachStorage(
    "its buffer was freed after packing (keepWeightInTexture); only linear() can read it",
    () => {
      const res = resources(gpu);
      gpu.flush();
      for (const c of entry.chunks) c.texture.destroy();
      res.weights.delete(weight);
    },
  );
  return true;
}

/** x texels per row: K/4 rounded up, padded so every kBlock divides it. */
function paddedTexels(k: number): number {
  return Math.ceil(Math.ceil(k / 4) / K_TEXEL_ALIGN) * K_TEXEL_ALIGN;
}

function newTexture(
  gpu: Gpu,
  width: number,
  height: number,
  format: GPUTextureFormat,
  label: string,
): GPUTexture {
  return gpu.device.createTexture({
    size: [width, height],
    format,
    usage: GPUTextureUsage.STORAGE_BINDING,
    label,
  });
}

/** Records a dispatch whose bindings include textures (Gpu.dispatch takes buffers only). */
function recordDispatch(
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

function pack(gpu: Gpu, source: Tensor, shape: PackShape, target: GPUTexture): void {
  recordDispatch(
    gpu,
    "linear-pack",
    packTexelsWgsl(shape),
    [source.binding(), target.createView()],
    [Math.ceil(shape.texels / PACK_WORKGROUP), shape.rows, 1],
  );
}

/** Row chunks of at most `maxRows` (the texture height limit). */
function rowChunks(rows: number, maxRows: number): { rowBase: number; rows: number }[] {
  const chunks = [];
  for (let rowBase = 0; rowBase < rows; rowBase += maxRows) {
    chunks.push({ rowBase, rows: Math.min(maxRows, rows - rowBase) });
  }
  return chunks;
}

function cachedWeight(gpu: Gpu, weight: Tensor, kTexels: number): CachedWeight {
  const res = resources(gpu);
  const hit = res.weights.get(weight);
  if (hit) return hit;
  // Drop the copies of weights released since the last miss (they can never be passed again).
  const stale = [...res.weights.entries()].filter(([t]) => t.released);
  if (stale.length > 0) {
    gpu.flush();
    for (const [t, w] of stale) {
      for (const c of w.chunks) c.texture.destroy();
      res.weights.delete(t);
    }
  }
  const [n, k] = weight.shape;
  const format: WeightTexelFormat = weight.dtype === "f16" ? "f16x8" : "f32";
  const texels = format === "f16x8" ? kTexels / 2 : kTexels;
  const textureFormat: GPUTextureFormat = format === "f16x8" ? "rgba32uint" : "rgba32float";
  const chunks = rowChunks(n, gpu.limits.maxTextureDimension2D).map(({ rowBase, rows }) => {
    const texture = newTexture(gpu, texels, rows, textureFormat, "linear-weight");
    pack(
      gpu,
      weight,
      { source: weight.dtype === "f16" ? "f16" : "f32", rows, rowBase, k, texels },
      texture,
    );
    return { texture, view: texture.createView(), rowBase, rows };
  });
  const entry = { chunks, format, bytes: texels * n * 16, only: false };
  res.weights.set(weight, entry);
  return entry;
}

/** The x scratch texture, grown (never shrunk) to hold `width × height` texels. */
function scratchTexture(gpu: Gpu, width: number, height: number): GPUTexture {
  const res = resources(gpu);
  const old = res.scratch;
  if (old && old.width >= width && old.height >= height) return old;
  if (old) {
    gpu.flush();
    old.destroy();
  }
  const grown = newTexture(
    gpu,
    Math.max(width, old?.width ?? 0),
    Math.max(height, old?.height ?? 0),
    "rgba32float",
    "linear-x-scratch",
  );
  res.scratch = grown;
  return grown;
}

function linearTiled(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  m: number,
  activation: Activation,
  tileOverride: TiledLinearTile | undefined,
): void {
  const gpu = x.gpu;
  const [n, k] = weight.shape;
  const kTexels = paddedTexels(k);
  const maxRows = gpu.limits.maxTextureDimension2D;
  const w = cachedWeight(gpu, weight, kTexels);
  const lanes = simdLanes(gpu);
  const epilogue = { bias: bias !== undefined, activation };
  for (const xChunk of rowChunks(m, maxRows)) {
    const tile = tileOverride ?? defaultTiledTile(xChunk.rows, n, lanes, w.format);
    const scratch = scratchTexture(gpu, kTexels, xChunk.rows);
    pack(
      gpu,
      x,
      { source: "f32", rows: xChunk.rows, rowBase: xChunk.rowBase, k, texels: kTexels },
      scratch,
    );
    const scratchView = scratch.createView();
    for (const wChunk of w.chunks) {
      const shape: TiledLinearShape = {
        maxRows,
        cols: wChunk.rows,
        kTexels,
        outStride: n,
        rowBase: xChunk.rowBase,
        colBase: wChunk.rowBase,
        lanes,
        weightFormat: w.format,
      };
      const bindings: (GPUTextureView | BufferBinding)[] = [
        scratchView,
        wChunk.view,
        out.binding(),
      ];
      if (bias) bindings.push(bias.binding());
      recordDispatch(gpu, "linear-tiled", tiledLinearWgsl(shape, tile, epilogue), bindings, [
        ...tiledLinearGrid(xChunk.rows, shape, tile),
        1,
      ]);
    }
  }
}

function linearDirect(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  m: number,
  activation: Activation,
): void {
  const [n, k] = weight.shape;
  const shape: DirectLinearShape = {
    m,
    n,
    k,
    weight: weight.dtype === "f16" ? "f16" : "f32",
    // Small M is a matrix-vector product: spread the columns over a GPU-sized workgroup instead.
    lanesN: m >= 32 ? 8 : 64,
    lanesM: m >= 32 ? 8 : 1,
    rowsPerLane: m >= 32 ? 4 : Math.min(m, 4),
    colsPerLane: 4,
  };
  const bindings = [x.binding(), weight.binding(), out.binding()];
  if (bias) bindings.push(bias.binding());
  x.gpu.dispatch({
    name: "linear-direct",
    wgsl: directLinearWgsl(shape, { bias: bias !== undefined, activation }),
    bindings,
    workgroups: directLinearGrid(shape),
  });
}

/**
 * y = act(x·Wᵀ + b). x is [..., K] f32 (leading dims flattened to M rows), weight [N, K] f32 or
 * f16 (f16 values are widened exactly; sums are f32), bias [N] f32. Returns [..., N] f32.
 * On CPU adapters the weight is copied into a cached texture on first use (see
 * `releaseLinearCaches`).
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor,
  options: LinearOptions = {},
): Tensor {
  if (x.dtype !== "f32") throw new ShapeError(`linear: x must be f32, got ${x.dtype}`);
  if (weight.dtype !== "f32" && weight.dtype !== "f16") {
    throw new ShapeError(`linear: weight must be f32 or f16, got ${weight.dtype}`);
  }
  if (x.shape.length < 1) {
    throw new ShapeError(`linear: x must have a feature axis, got [${x.shape}]`);
  }
  const k = x.shape[x.shape.length - 1];
  if (weight.shape.length !== 2 || weight.shape[1] !== k) {
    throw new ShapeError(
      `linear: weight expected shape [N, ${k}] for x [${x.shape}], got [${weight.shape}]`,
    );
  }
  const n = weight.shape[0];
  if (bias && (bias.dtype !== "f32" || bias.shape.length !== 1 || bias.shape[0] !== n)) {
    throw new ShapeError(
      `linear: bias expected shape [${n}] f32, got [${bias.shape}] ${bias.dtype}`,
    );
  }
  if (x.gpu !== weight.gpu || (bias && bias.gpu !== x.gpu)) {
    throw new ShapeError("linear: x, weight and bias belong to different GPU contexts");
  }
  const rows = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  const out = Tensor.empty(x.gpu, [...x.shape.slice(0, -1), n], "f32", "linear");
  if (rows === 0 || n === 0) return out;
  const activation = options.activation ?? "none";
  const kernel = options.kernel ?? "auto";
  const texturesFit = k > 0 && paddedTexels(k) <= x.gpu.limits.maxTextureDimension2D;
  const tiled = kernel === "tiled" || (kernel === "auto" && usesTextures(x.gpu, k));
  if (tiled) {
    if (!texturesFit) throw new ShapeError(`linear: K = ${k} is too large for the tiled kernel`);
    linearTiled(x, weight, bias, out, rows, activation, options.tile);
  } else {
    linearDirect(x, weight, bias, out, rows, activation);
  }
  return out;
}
