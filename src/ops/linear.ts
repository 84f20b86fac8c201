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
  type LinearEpilogue,
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
import { recordTextureDispatch, simdLanes, TextureCache } from "./texture_kernels.ts";

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
    launch: (variant) =>
      runVariant(variant, { x, weight: w, bias: b, out, m, activation: "none" }, {}),
    dispose: () => {
      textures.forget(gpu, w);
      for (const t of [x, w, b, out]) t.release();
    },
  };
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

const textures = new TextureCache<CachedWeight>((w) => w.chunks.map((c) => c.texture));

/** Bytes held by the linear kernels' textures (weight copies and the x scratch texture). */
export function linearCacheBytes(gpu: Gpu): number {
  return textures.bytes(gpu);
}

/**
 * Frees the cached weight textures and the scratch texture. Call it after changing a weight
 * tensor's contents in place (the cache assumes weights are immutable) or to return memory.
 * Textures that are a weight's only copy (`keepWeightInTexture`) stay until that weight is
 * released.
 */
export function releaseLinearCaches(gpu: Gpu): void {
  textures.release(gpu, (w) => w.only);
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
    () => textures.forget(gpu, weight),
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

function pack(gpu: Gpu, source: Tensor, shape: PackShape, target: GPUTexture): void {
  recordTextureDispatch(
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
  return textures.weight(gpu, weight, () => packWeight(gpu, weight, kTexels));
}

function packWeight(gpu: Gpu, weight: Tensor, kTexels: number): CachedWeight {
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
  return { chunks, format, bytes: texels * n * 16, only: false };
}

/** One product to record: out = act(x·Wᵀ + b), x read as `m` rows. */
interface LinearCall {
  x: Tensor;
  weight: Tensor;
  bias: Tensor | undefined;
  out: Tensor;
  m: number;
  activation: Activation;
}

function linearTiled(call: LinearCall, tileOverride: TiledLinearTile | undefined): void {
  const { x, weight, bias, out, m } = call;
  const gpu = x.gpu;
  const [n, k] = weight.shape;
  const kTexels = paddedTexels(k);
  const maxRows = gpu.limits.maxTextureDimension2D;
  const w = cachedWeight(gpu, weight, kTexels);
  const lanes = simdLanes(gpu);
  const epilogue = { bias: bias !== undefined, activation: call.activation };
  for (const xChunk of rowChunks(m, maxRows)) {
    const tile = tileOverride ?? defaultTiledTile(xChunk.rows, n, lanes, w.format);
    const scratch = textures.scratch(gpu, [kTexels, xChunk.rows, 1], {
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING,
      label: "linear-x-scratch",
    });
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
      recordTextureDispatch(gpu, "linear-tiled", tiledLinearWgsl(shape, tile, epilogue), bindings, [
        ...tiledLinearGrid(xChunk.rows, shape, tile),
        1,
      ]);
    }
  }
}

/** The sizes and weight element type of a buffer kernel (direct or gemm) for `call`. */
function bufferShape(call: LinearCall): { m: number; n: number; k: number; weight: "f16" | "f32" } {
  const [n, k] = call.weight.shape;
  return { m: call.m, n, k, weight: call.weight.dtype === "f16" ? "f16" : "f32" };
}

/**
 * Records a buffer kernel binding x, the weight, out and the bias if any; `wgsl` gets the
 * epilogue.
 */
function dispatchBufferKernel(
  call: LinearCall,
  name: string,
  wgsl: (epilogue: LinearEpilogue) => string,
  workgroups: [number, number, number],
): void {
  const { x, weight, bias, out } = call;
  const bindings = [x.binding(), weight.binding(), out.binding()];
  if (bias) bindings.push(bias.binding());
  x.gpu.dispatch({
    name,
    wgsl: wgsl({ bias: bias !== undefined, activation: call.activation }),
    bindings,
    workgroups,
  });
}

function linearDirect(call: LinearCall): void {
  const m = call.m;
  const shape: DirectLinearShape = {
    ...bufferShape(call),
    // Small M is a matrix-vector product: spread the columns over a GPU-sized workgroup instead.
    lanesN: m >= 32 ? 8 : 64,
    lanesM: m >= 32 ? 8 : 1,
    rowsPerLane: m >= 32 ? 4 : Math.min(m, 4),
    colsPerLane: 4,
  };
  dispatchBufferKernel(
    call,
    "linear-direct",
    (epilogue) => directLinearWgsl(shape, epilogue),
    directLinearGrid(shape),
  );
}

function linearGemm(call: LinearCall, tile: GemmTile = defaultGemmTile(call.m)): void {
  const shape: GemmLinearShape = { ...bufferShape(call), tile };
  dispatchBufferKernel(
    call,
    "linear-gemm",
    (epilogue) => gemmLinearWgsl(shape, epilogue),
    gemmLinearGrid(shape),
  );
}

function runVariant(
  variant: LinearVariant,
  call: LinearCall,
  options: Pick<LinearOptions, "tile" | "gemmTile">,
): void {
  if (variant === "tiled") linearTiled(call, options.tile);
  else if (variant === "gemm") linearGemm(call, options.gemmTile);
  else linearDirect(call);
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
  runVariant(variant, { x, weight, bias, out, m: rows, activation }, options);
  return out;
}
