/**
 * Launcher for y = act(x·Wᵀ + b): x [..., K] f32, W [N, K] f32 or f16 (checkpoint layout), b [N].
 *
 * On CPU adapters (lavapipe/llvmpipe) the operands go through rgba storage textures, which that
 * driver loads an order of magnitude faster than storage buffers (see shaders/linear.ts). x is
 * packed into one shared scratch texture on every call (3–5% of the product at K = 1152, ~15% at
 * K = 4608: lavapipe's texture stores are slow); W is packed once and cached per weight tensor,
 * because packing it on every call would cost as much as the product at small M. Dispatches run
 * in recording order, so back-to-back calls may reuse the scratch texture.
 *
 * Three variants: "tiled" (the texture kernel), "direct" (buffers, no workgroup memory) and
 * "gemm" (buffers through workgroup-memory tiles, shaders/linear_gemm.ts). Which one a call uses
 * is measured per adapter and shape class (src/gpu/kernel_choice.ts); the fixed default is
 * "tiled" on CPU adapters (Gpu.cpuKernels) and "gemm" (or "direct" for M < 16) elsewhere.
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
import {
  defaultGemmTile,
  gemmLinearGrid,
  type GemmLinearShape,
  gemmLinearWgsl,
  type GemmTile,
  gemmWorkgroupBytes,
} from "../../shaders/linear_gemm.ts";
import { ShapeError } from "../errors.ts";
import type { BufferBinding, Gpu } from "../gpu/context.ts";
import { type KernelTrial, sizeBucket } from "../gpu/kernel_choice.ts";
import { Tensor } from "../tensor.ts";

export type { Activation, TiledLinearTile } from "../../shaders/linear.ts";

/** The linear kernel variants (see the module comment). */
export type LinearVariant = "tiled" | "direct" | "gemm";

export interface LinearOptions {
  activation?: Activation;
  /**
   * Kernel variant, for tests and benchmarks: "tiled" (storage textures), "direct" (storage
   * buffers), "gemm" (workgroup-memory tiles) or "auto" (the default: measured choice).
   */
  kernel?: "auto" | LinearVariant;
  /** Register tile override for the tiled kernel (benchmark sweeps). */
  tile?: TiledLinearTile;
  /** Work split override for the gemm kernel (benchmark sweeps, tests). */
  gemmTile?: GemmTile;
}

/** Floating-point operations of an [M, K]·[K, N] product (one multiply and one add per term). */
export function matmulFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

/** True for software adapters, where the tiled texture kernel is the fixed default. */
export function isCpuAdapter(gpu: Gpu): boolean {
  return gpu.cpuKernels;
}

/** The order of preference without measurement: the first one that can run a call is used. */
function fixedLinearOrder(gpu: Gpu, m: number): LinearVariant[] {
  if (gpu.cpuKernels) return ["tiled", "direct", "gemm"];
  return m >= 16 ? ["gemm", "direct", "tiled"] : ["direct", "gemm", "tiled"];
}

/** True when the gemm kernel's workgroup fits the device for this M. */
function gemmFits(gpu: Gpu, m: number, k: number): boolean {
  const tile = defaultGemmTile(m);
  return k > 0 && gemmWorkgroupBytes(tile) <= gpu.limits.maxComputeWorkgroupStorageSize &&
    tile.lanesN * tile.lanesM <= gpu.limits.maxComputeInvocationsPerWorkgroup;
}

/** Variants that can run [m, k]·[k, n] (with the weight in a buffer unless `detached`). */
function linearVariantsFor(gpu: Gpu, m: number, k: number, detached: boolean): LinearVariant[] {
  const texturesFit = k > 0 && paddedTexels(k) <= gpu.limits.maxTextureDimension2D;
  return fixedLinearOrder(gpu, m).filter((v) =>
    v === "tiled" ? texturesFit : !detached && (v === "direct" || gemmFits(gpu, m, k))
  );
}

/** The variant for this call: measured per shape class (see src/gpu/kernel_choice.ts). */
function chooseLinearVariant(gpu: Gpu, weight: Tensor, m: number): LinearVariant {
  const [n, k] = weight.shape;
  const candidates = linearVariantsFor(gpu, m, k, weight.detached);
  return gpu.kernels.choose({
    family: "linear",
    shapeClass: `${weight.dtype} m${sizeBucket(m)} n${sizeBucket(n)} k${sizeBucket(k)}`,
    candidates,
    trialVariants: linearVariantsFor(gpu, m, k, false),
    trial: () => linearTrial(gpu, m, n, k, weight.dtype === "f16" ? "f16" : "f32"),
  });
}

/** Zero operands of the call's shape; every variant writes the same output tensor. */
function linearTrial(
  gpu: Gpu,
  m: number,
  n: number,
  k: number,
  dtype: "f32" | "f16",
): KernelTrial<LinearVariant> {
  const x = Tensor.fromArray(gpu, new Float32Array(m * k), [m, k], "f32", "linear-trial-x");
  const w = Tensor.fromArray(gpu, new Float32Array(n * k), [n, k], dtype, "linear-trial-w");
  const b = Tensor.fromArray(gpu, new Float32Array(n), [n], "f32", "linear-trial-b");
  const out = Tensor.empty(gpu, [m, n], "f32", "linear-trial-y");
  return {
    launch: (variant) => runVariant(variant, x, w, b, out, m, "none", {}),
    dispose: () => {
      forgetWeightTexture(gpu, w);
      for (const t of [x, w, b, out]) t.release();
    },
  };
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

/**
 * True when weights [N, k] are read through textures without measurement on this GPU: CPU
 * adapters (or "tiled" forced) keep linear weights only as textures (`keepWeightInTexture`),
 * and a weight held only as a texture has one variant left, so it is never measured.
 */
function usesTextures(gpu: Gpu, k: number): boolean {
  const forced = gpu.kernels.forced("linear");
  const tiled = forced === undefined ? isCpuAdapter(gpu) : forced === "tiled";
  return tiled && k > 0 && paddedTexels(k) <= gpu.limits.maxTextureDimension2D;
}

/** Drops the texture copy of `weight` (a trial's scratch weight) now. */
function forgetWeightTexture(gpu: Gpu, weight: Tensor): void {
  const res = resourcesByGpu.get(gpu);
  const entry = res?.weights.get(weight);
  if (!res || !entry) return;
  gpu.flush();
  for (const c of entry.chunks) c.texture.destroy();
  res.weights.delete(weight);
}

/**
 * Packs `weight` ([N, K] f32 or f16) into its cached texture now and frees its buffer, so the
 * weight is held once instead of twice on adapters where the tiled kernel reads only the texture
 * (lavapipe/llvmpipe, or "tiled" forced). Afterwards the weight works with `linear` (kernel
 * "auto" or "tiled") and nothing else; releasing it frees the texture. Returns false, keeping
 * the buffer, on other adapters, where the variant is measured.
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

function linearGemm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  m: number,
  activation: Activation,
  tile: GemmTile = defaultGemmTile(m),
): void {
  const [n, k] = weight.shape;
  const shape: GemmLinearShape = {
    m,
    n,
    k,
    weight: weight.dtype === "f16" ? "f16" : "f32",
    tile,
  };
  const bindings = [x.binding(), weight.binding(), out.binding()];
  if (bias) bindings.push(bias.binding());
  x.gpu.dispatch({
    name: "linear-gemm",
    wgsl: gemmLinearWgsl(shape, { bias: bias !== undefined, activation }),
    bindings,
    workgroups: gemmLinearGrid(shape),
  });
}

function runVariant(
  variant: LinearVariant,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  m: number,
  activation: Activation,
  options: Pick<LinearOptions, "tile" | "gemmTile">,
): void {
  if (variant === "tiled") linearTiled(x, weight, bias, out, m, activation, options.tile);
  else if (variant === "gemm") linearGemm(x, weight, bias, out, m, activation, options.gemmTile);
  else linearDirect(x, weight, bias, out, m, activation);
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
  const variant = kernel === "auto" ? chooseLinearVariant(x.gpu, weight, rows) : kernel;
  if (!linearVariantsFor(x.gpu, rows, k, false).includes(variant)) {
    throw new ShapeError(`linear: the ${variant} kernel cannot run [${rows}, ${k}]·[${k}, ${n}]`);
  }
  runVariant(variant, x, weight, bias, out, rows, activation, options);
  return out;
}
