/**
 * Launcher for 2D convolutions (NCHW, k ∈ {1, 3}, stride 1, "same" zero padding) with bias, an
 * optional fused residual add, and two producers folded into the input pack: a group norm's
 * apply step (+ SiLU) and a nearest ×2 upsample (see shaders/conv.ts).
 *
 * Weights are packed into a texture on first use and cached per weight tensor (weights are
 * immutable); the input goes through one shared 3D scratch texture per call (see
 * ./texture_kernels.ts).
 */

import {
  channelTexels,
  conv2dGrid,
  conv2dWgsl,
  CONV_PACK_WORKGROUP,
  type ConvDispatchShape,
  type ConvInputSpec,
  type ConvOutputMap,
  type ConvTile,
  packConvInputGrid,
  packConvInputWgsl,
  packConvWeightWgsl,
} from "../../shaders/conv.ts";
import { ShapeError } from "../errors.ts";
import type { BufferBinding, Gpu } from "../gpu/context.ts";
import { Tensor } from "../tensor.ts";
import {
  chunkSlabs,
  type PlaneSlab,
  sampleChunks,
  samplesPerBinding,
  slabBinding,
} from "./planes.ts";
import { recordTextureDispatch, simdLanes, TextureCache } from "./texture_kernels.ts";

export type { ConvOutputMap, ConvTile } from "../../shaders/conv.ts";

/** A group norm's apply step folded into the conv's input: (x − mean)/σ · γ + β, then SiLU. */
export interface ConvInputNorm {
  /** [B, G, 2] (mean, 1/σ) from `groupNormStats`. */
  stats: Tensor;
  /** γ and β, [Cin]. */
  weight: Tensor;
  bias: Tensor;
  silu: boolean;
}

export interface Conv2dOptions {
  /** Added to the output (same shape as the output): a residual connection. */
  residual?: Tensor;
  /** "nhwc": x is channels-last [B, H, W, C] (attention tokens). Default "nchw". */
  inputLayout?: "nchw" | "nhwc";
  /** Read x at half resolution: conv(upsampleNearest2x(x)) without storing the upsample. */
  upsample?: boolean;
  /** Normalise the input on the fly (applied before the upsample, per source pixel). */
  normalize?: ConvInputNorm;
  /** Applied last: clamp(y·scale + shift, min, max). */
  outputMap?: ConvOutputMap;
  /** Register tile override (benchmark sweeps). */
  tile?: ConvTile;
}

/** FLOPs of a conv (one multiply and one add per weight per output pixel). */
export function convFlops(
  batch: number,
  inChannels: number,
  outChannels: number,
  kernelSize: number,
  height: number,
  width: number,
): number {
  return 2 * batch * inChannels * outChannels * kernelSize * kernelSize * height * width;
}

/**
 * Default register tile, measured on lavapipe (2 cores, 256-bit SIMD) with bench/conv_bench.ts at
 * SD-VAE shapes: 32 pixels × 8 channels per lane ran 72 GFLOP/s at 512→512 on 64², against 65
 * for 32 × 4, 63 for 16 × 8 and 56 for 64 × 4 (the 34 uniform input texels per kernel row are
 * cheaper than gathered weight texels, until the accumulators spill); more texels per step only
 * added spills. Narrow rows or few output channels shrink it so no lane repeats clamped work.
 */
export function defaultConvTile(outChannels: number, width: number, lanes: number): ConvTile {
  return {
    pixelsPerLane: Math.min(32, width),
    channelsPerLane: Math.min(8, Math.ceil(outChannels / lanes)),
    texelsPerStep: 1,
  };
}

interface CachedWeight {
  texture: GPUTexture;
  view: GPUTextureView;
  bytes: number;
}

const textures = new TextureCache<CachedWeight>((w) => [w.texture]);

/** Bytes held by the conv kernels' textures (packed weights and the input scratch texture). */
export function convCacheBytes(gpu: Gpu): number {
  return textures.bytes(gpu);
}

/** Frees the packed weight textures and the scratch texture. */
export function releaseConvCaches(gpu: Gpu): void {
  textures.release(gpu);
}

function cachedWeight(gpu: Gpu, weight: Tensor): CachedWeight {
  return textures.weight(gpu, weight, () => {
    const [outChannels, inChannels, kernelSize] = weight.shape;
    const texels = kernelSize * kernelSize * channelTexels(inChannels);
    const texture = gpu.device.createTexture({
      size: [texels, outChannels],
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING,
      label: "conv-weight",
    });
    const view = texture.createView();
    recordTextureDispatch(
      gpu,
      "conv-pack-weight",
      packConvWeightWgsl({
        outChannels,
        inChannels,
        kernelSize,
        source: weight.dtype as "f32" | "f16",
      }),
      [weight.binding(), view],
      [Math.ceil(texels / CONV_PACK_WORKGROUP), outChannels, 1],
    );
    return { texture, view, bytes: texels * outChannels * 16 };
  });
}

function expectF32(what: string, t: Tensor): void {
  if (t.dtype !== "f32") throw new ShapeError(`conv2d: ${what} must be f32, got ${t.dtype}`);
}

function expectVector(what: string, t: Tensor, length: number): void {
  expectF32(what, t);
  if (t.shape.length !== 1 || t.shape[0] !== length) {
    throw new ShapeError(`conv2d: ${what} expected shape [${length}], got [${t.shape}]`);
  }
}

/** The input as [B, C, H, W] of the source tensor (before any upsample). */
function sourceShape(x: Tensor, layout: "nchw" | "nhwc"): [number, number, number, number] {
  if (x.shape.length !== 4) {
    const form = layout === "nchw" ? "[B, C, H, W]" : "[B, H, W, C]";
    throw new ShapeError(`conv2d: x must be ${form}, got [${x.shape}]`);
  }
  const [b, d1, d2, d3] = x.shape;
  return layout === "nchw" ? [b, d1, d2, d3] : [b, d3, d1, d2];
}

/**
 * y = conv(x, weight) + bias (+ residual), weight [Cout, Cin, k, k] f32 or f16 (widened exactly
 * when packed) with k ∈ {1, 3} and padding (k − 1)/2, so y is [B, Cout, H, W] (2H × 2W with
 * `upsample`).
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor,
  options: Conv2dOptions = {},
): Tensor {
  const gpu = x.gpu;
  const layout = options.inputLayout ?? "nchw";
  expectF32("x", x);
  if (weight.dtype !== "f32" && weight.dtype !== "f16") {
    throw new ShapeError(`conv2d: weight must be f32 or f16, got ${weight.dtype}`);
  }
  const [batch, inChannels, sourceHeight, sourceWidth] = sourceShape(x, layout);
  const [outChannels, weightIn, kernelSize, kernelWidth] = weight.shape;
  if (
    weight.shape.length !== 4 || weightIn !== inChannels || kernelSize !== kernelWidth ||
    (kernelSize !== 1 && kernelSize !== 3)
  ) {
    throw new ShapeError(
      `conv2d: weight expected shape [Cout, ${inChannels}, k, k] with k = 1 or 3 for x ` +
        `[${x.shape}], got [${weight.shape}]`,
    );
  }
  if (bias) expectVector("bias", bias, outChannels);
  if (options.upsample && layout !== "nchw") {
    throw new ShapeError("conv2d: upsample is only supported for NCHW input");
  }
  const scale = options.upsample ? 2 : 1;
  const height = sourceHeight * scale;
  const width = sourceWidth * scale;
  const outShape = [batch, outChannels, height, width];
  const norm = options.normalize;
  if (norm) {
    if (layout !== "nchw") throw new ShapeError("conv2d: normalize needs NCHW input");
    expectVector("normalize.weight", norm.weight, inChannels);
    expectVector("normalize.bias", norm.bias, inChannels);
    const groups = norm.stats.shape[1];
    const ok = norm.stats.shape.length === 3 && norm.stats.shape[0] === batch &&
      norm.stats.shape[2] === 2 && groups > 0 && inChannels % groups === 0;
    if (!ok) {
      throw new ShapeError(
        `conv2d: normalize.stats expected [${batch}, G, 2] with G dividing ${inChannels}, got ` +
          `[${norm.stats.shape}]`,
      );
    }
  }
  if (options.residual) {
    expectF32("residual", options.residual);
    const r = options.residual.shape;
    if (r.length !== 4 || r.some((d, i) => d !== outShape[i])) {
      throw new ShapeError(`conv2d: residual expected shape [${outShape}], got [${r}]`);
    }
  }
  const out = Tensor.empty(gpu, outShape, "f32", "conv2d");
  if (out.size === 0) return out;
  const padding = (kernelSize - 1) / 2;
  const limits = gpu.limits;
  const paddedWidth = width + 2 * padding;
  const paddedHeight = height + 2 * padding;
  const texels = channelTexels(inChannels);
  if (
    paddedWidth > limits.maxTextureDimension3D || paddedHeight > limits.maxTextureDimension3D ||
    texels > limits.maxTextureDimension3D ||
    kernelSize * kernelSize * texels > limits.maxTextureDimension2D ||
    outChannels > limits.maxTextureDimension2D
  ) {
    throw new ShapeError(
      `conv2d: ${inChannels}→${outChannels} channels at ${height}×${width} exceed the texture ` +
        `limits (${limits.maxTextureDimension3D} per 3D axis, ${limits.maxTextureDimension2D} 2D)`,
    );
  }
  const lanes = simdLanes(gpu);
  const tile = options.tile ?? defaultConvTile(outChannels, width, lanes);
  const input: ConvInputSpec = {
    channels: inChannels,
    height,
    width,
    padding,
    layout,
    upsample: options.upsample ?? false,
    normalize: norm ? { groups: norm.stats.shape[1], silu: norm.silu } : null,
  };
  const maxBinding = limits.maxStorageBufferBindingSize;
  const nchwSource = [batch, inChannels, sourceHeight, sourceWidth];
  const perChunk = Math.min(
    Math.floor(limits.maxTextureDimension3D / paddedHeight),
    samplesPerBinding(nchwSource, maxBinding),
    samplesPerBinding(outShape, maxBinding),
  );
  const w = cachedWeight(gpu, weight);
  for (const chunk of sampleChunks(batch, perChunk)) {
    const scratchSize = [texels, paddedWidth, chunk.sampleCount * paddedHeight] as const;
    const scratch = textures.scratch(gpu, scratchSize, {
      dimension: "3d",
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING,
      label: "conv-input-scratch",
    });
    const scratchView = scratch.createView();
    const inputSlabs = layout === "nchw"
      ? chunkSlabs(nchwSource, chunk, maxBinding, 4)
      : [{ ...chunk, channelBase: 0, channelCount: inChannels }];
    for (const slab of inputSlabs) {
      const source = layout === "nchw" ? slabBinding(x, slab) : nhwcBinding(x, slab);
      const bindings: (GPUTextureView | BufferBinding)[] = [source, scratchView];
      if (norm) bindings.push(norm.stats.binding(), norm.weight.binding(), norm.bias.binding());
      recordTextureDispatch(
        gpu,
        "conv-pack-input",
        packConvInputWgsl(input, slab),
        bindings,
        packConvInputGrid(input, slab),
      );
    }
    for (const slab of chunkSlabs(outShape, chunk, maxBinding)) {
      convDispatch(out, slab, scratchView, w.view, bias, options, {
        inChannels,
        outChannels,
        kernelSize,
        height,
        width,
        channelBase: slab.channelBase,
        channelCount: slab.channelCount,
        samples: slab.sampleCount,
        lanes,
      }, tile);
    }
  }
  return out;
}

/** A chunk of whole samples of a channels-last tensor (which is never split by channel). */
function nhwcBinding(x: Tensor, slab: PlaneSlab): BufferBinding {
  const sampleElements = x.size / x.shape[0];
  const base = x.binding();
  const offset = base.offset + slab.sampleBase * sampleElements * 4;
  const bytes = slab.sampleCount * sampleElements * 4;
  if (offset % x.gpu.limits.minStorageBufferOffsetAlignment !== 0) {
    throw new ShapeError(
      `conv2d: channels-last x [${x.shape}] cannot be split at sample ${slab.sampleBase}`,
    );
  }
  return { buffer: base.buffer, offset, size: Math.max(4, bytes) };
}

function convDispatch(
  out: Tensor,
  slab: PlaneSlab,
  input: GPUTextureView,
  weights: GPUTextureView,
  bias: Tensor | undefined,
  options: Conv2dOptions,
  shape: ConvDispatchShape,
  tile: ConvTile,
): void {
  const bindings: (GPUTextureView | BufferBinding)[] = [input, weights, slabBinding(out, slab)];
  if (bias) bindings.push(bias.binding());
  const residual = options.residual;
  if (residual) bindings.push(slabBinding(residual, slab));
  const epilogue = {
    bias: bias !== undefined,
    residual: residual !== undefined,
    outputMap: options.outputMap ?? null,
  };
  recordTextureDispatch(
    out.gpu,
    "conv2d",
    conv2dWgsl(shape, tile, epilogue),
    bindings,
    conv2dGrid(shape, tile),
  );
}
