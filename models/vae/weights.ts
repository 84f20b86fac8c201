/**
 * AutoencoderKL decoder weight names (diffusers layout), expected shapes, and loading onto the
 * GPU. Full AutoencoderKL checkpoints also hold the encoder: only `decoder.*` and
 * `post_quant_conv.*` are checked and loaded.
 */

import type { Gpu } from "../../src/gpu/context.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import { Tensor } from "../../src/tensor.ts";
import type { VaeConfig } from "./config.ts";
import { loadLinear } from "../../src/nn/weight_loading.ts";
import type { GpuWeight } from "../../src/nn/weight_check.ts";
import { checkedSource } from "../../src/nn/checked_source.ts";

export interface ConvWeights {
  /** [Cout, Cin, k, k] */
  weight: Tensor;
  bias: Tensor;
}

export interface NormWeights {
  weight: Tensor;
  bias: Tensor;
}

export interface ResnetWeights {
  norm1: NormWeights;
  conv1: ConvWeights;
  norm2: NormWeights;
  conv2: ConvWeights;
  /** 1×1 conv when the block changes the channel count. */
  shortcut: ConvWeights | null;
}

export interface AttentionWeights {
  norm: NormWeights;
  /** [C, C] linears, q pre-scaled by 1/√C (so the scores need no scaling). */
  query: { weight: Tensor; bias: Tensor };
  key: { weight: Tensor; bias: Tensor };
  /** v and the output projection as 1×1 convs [C, C, 1, 1]. */
  value: ConvWeights;
  out: ConvWeights;
}

export interface UpBlockWeights {
  resnets: ResnetWeights[];
  /** Nearest ×2 then this 3×3 conv; absent on the last (finest) block. */
  upsampler: ConvWeights | null;
}

export interface VaeDecoderWeights {
  postQuantConv: ConvWeights | null;
  convIn: ConvWeights;
  midResnets: [ResnetWeights, ResnetWeights];
  midAttention: AttentionWeights | null;
  upBlocks: UpBlockWeights[];
  normOut: NormWeights;
  convOut: ConvWeights;
}

const ATTENTION = "decoder.mid_block.attentions.0";

/** Current (`to_q`…) and pre-0.14 diffusers (`query`…) names of the mid-block projections. */
const PROJECTION_NAMES = {
  current: { query: "to_q", key: "to_k", value: "to_v", out: "to_out.0" },
  legacy: { query: "query", key: "key", value: "value", out: "proj_attn" },
} as const;

type Projection = keyof typeof PROJECTION_NAMES.current;

function projectionNames(source: TensorSource): Record<Projection, string> {
  const legacy = source.has(`${ATTENTION}.query.weight`) && !source.has(`${ATTENTION}.to_q.weight`);
  return PROJECTION_NAMES[legacy ? "legacy" : "current"];
}

/** Channels entering and leaving each resnet of up block i (diffusers' Decoder wiring). */
export function upBlockChannels(config: VaeConfig, block: number): { in: number; out: number } {
  const reversed = [...config.blockOutChannels].reverse();
  return { in: reversed[Math.max(block - 1, 0)], out: reversed[block] };
}

/** The decoder keys of a full AutoencoderKL checkpoint, as a source of its own. */
export function decoderSource(source: TensorSource): TensorSource {
  const keep = (name: string) => name.startsWith("decoder.") || name.startsWith("post_quant_conv.");
  return {
    path: source.path,
    names: () => source.names().filter(keep),
    has: (name) => keep(name) && source.has(name),
    info: (name) => source.info(name),
    readFloat32: (name) => source.readFloat32(name),
    readFloat16: (name) => source.readFloat16(name),
    readInt: (name) => source.readInt(name),
    readRaw: (name) => source.readRaw(name),
    close: () => source.close(),
  };
}

/** Every decoder tensor name with its shape (projections as stored: [C, C] or [C, C, 1, 1]). */
export function expectedVaeShapes(config: VaeConfig, source?: TensorSource): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const conv = (name: string, out: number, inp: number, k: number) => {
    shapes.set(`${name}.weight`, [out, inp, k, k]);
    shapes.set(`${name}.bias`, [out]);
  };
  const norm = (name: string, channels: number) => {
    shapes.set(`${name}.weight`, [channels]);
    shapes.set(`${name}.bias`, [channels]);
  };
  const resnet = (name: string, inp: number, out: number) => {
    norm(`${name}.norm1`, inp);
    conv(`${name}.conv1`, out, inp, 3);
    norm(`${name}.norm2`, out);
    conv(`${name}.conv2`, out, out, 3);
    if (inp !== out) conv(`${name}.conv_shortcut`, out, inp, 1);
  };
  const latent = config.latentChannels;
  const top = config.blockOutChannels[config.blockOutChannels.length - 1];
  if (config.usePostQuantConv) conv("post_quant_conv", latent, latent, 1);
  conv("decoder.conv_in", top, latent, 3);
  resnet("decoder.mid_block.resnets.0", top, top);
  resnet("decoder.mid_block.resnets.1", top, top);
  if (config.midBlockAttention) {
    norm(`${ATTENTION}.group_norm`, top);
    const names = source ? projectionNames(source) : PROJECTION_NAMES.current;
    for (const name of Object.values(names)) {
      const key = `${ATTENTION}.${name}.weight`;
      // Some checkpoints store the projections as 1×1 convs; both hold the same numbers.
      const asConv = source?.has(key) && source.info(key).shape.length === 4;
      shapes.set(key, asConv ? [top, top, 1, 1] : [top, top]);
      shapes.set(`${ATTENTION}.${name}.bias`, [top]);
    }
  }
  const levels = config.blockOutChannels.length;
  for (let i = 0; i < levels; i++) {
    const { in: inp, out } = upBlockChannels(config, i);
    for (let j = 0; j <= config.layersPerBlock; j++) {
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? inp : out, out);
    }
    if (i < levels - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
  }
  norm("decoder.conv_norm_out", config.blockOutChannels[0]);
  conv("decoder.conv_out", config.outChannels, config.blockOutChannels[0], 3);
  return shapes;
}

/**
 * Storage of the conv and projection weights on the GPU. Biases and norm parameters stay f32;
 * f16 weights are widened exactly when packed, so the products still accumulate in f32.
 */
export type VaeWeightDtype = "f32" | "f16";

// A conv's and an affine GroupNorm's tensors are the same `weight` + `bias` pair as a linear
// layer's: the weight stored as `dtype`, the bias (and a norm's weight) in f32.

function loadConv(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: VaeWeightDtype,
): Promise<ConvWeights> {
  return loadLinear(gpu, source, name, dtype);
}

function loadNorm(gpu: Gpu, source: TensorSource, name: string): Promise<NormWeights> {
  return loadLinear(gpu, source, name, "f32");
}

async function loadResnet(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: VaeWeightDtype,
): Promise<ResnetWeights> {
  return {
    norm1: await loadNorm(gpu, source, `${name}.norm1`),
    conv1: await loadConv(gpu, source, `${name}.conv1`, dtype),
    norm2: await loadNorm(gpu, source, `${name}.norm2`),
    conv2: await loadConv(gpu, source, `${name}.conv2`, dtype),
    shortcut: source.has(`${name}.conv_shortcut.weight`)
      ? await loadConv(gpu, source, `${name}.conv_shortcut`, dtype)
      : null,
  };
}

async function loadAttention(
  gpu: Gpu,
  source: TensorSource,
  channels: number,
  dtype: VaeWeightDtype,
): Promise<AttentionWeights> {
  const names = projectionNames(source);
  const linear = async (projection: Projection, scale = 1) => {
    const name = `${ATTENTION}.${names[projection]}`;
    const weight = await source.readFloat32(`${name}.weight`);
    const bias = await source.readFloat32(`${name}.bias`);
    if (scale !== 1) {
      for (let i = 0; i < weight.length; i++) weight[i] *= scale;
      for (let i = 0; i < bias.length; i++) bias[i] *= scale;
    }
    return { weight, bias, name };
  };
  const asLinear = async (projection: Projection, scale = 1) => {
    const { weight, bias, name } = await linear(projection, scale);
    return {
      weight: Tensor.fromArray(gpu, weight, [channels, channels], dtype, `${name}.weight`),
      bias: Tensor.fromArray(gpu, bias, [channels], "f32", `${name}.bias`),
    };
  };
  const asConv = async (projection: Projection) => {
    const { weight, bias, name } = await linear(projection);
    return {
      weight: Tensor.fromArray(gpu, weight, [channels, channels, 1, 1], dtype, `${name}.weight`),
      bias: Tensor.fromArray(gpu, bias, [channels], "f32", `${name}.bias`),
    };
  };
  return {
    norm: await loadNorm(gpu, source, `${ATTENTION}.group_norm`),
    // diffusers scales the scores by 1/√(head dim) with a single head of C channels; folding
    // the factor into q's weights and bias rounds differently by at most an ulp.
    query: await asLinear("query", 1 / Math.sqrt(channels)),
    key: await asLinear("key"),
    value: await asConv("value"),
    out: await asConv("out"),
  };
}

/**
 * Validates every key and shape first (one error listing all problems), then uploads; `dtype`
 * applies to the conv and attention projection weights.
 */
export async function loadVaeDecoderWeights(
  gpu: Gpu,
  checkpoint: TensorSource,
  config: VaeConfig,
  dtype: VaeWeightDtype = "f32",
): Promise<VaeDecoderWeights> {
  const source = checkedSource(gpu, decoderSource(checkpoint), {
    what: "VAE decoder",
    expected: (decoder) => expectedVaeShapes(config, decoder),
    stored: (shapes) => {
      const stored = new Map<string, GpuWeight>();
      for (const [name, shape] of shapes) {
        // Conv kernels and projections are [out, in, ...]; norms and biases are vectors.
        const matrix = shape.length >= 2 && name.endsWith(".weight");
        stored.set(name, { shape, dtype: matrix ? dtype : "f32" });
      }
      return stored;
    },
  });
  const top = config.blockOutChannels[config.blockOutChannels.length - 1];
  const upBlocks: UpBlockWeights[] = [];
  for (let i = 0; i < config.blockOutChannels.length; i++) {
    const resnets: ResnetWeights[] = [];
    for (let j = 0; j <= config.layersPerBlock; j++) {
      resnets.push(await loadResnet(gpu, source, `decoder.up_blocks.${i}.resnets.${j}`, dtype));
    }
    const upsampler = `decoder.up_blocks.${i}.upsamplers.0.conv`;
    upBlocks.push({
      resnets,
      upsampler: source.has(`${upsampler}.weight`)
        ? await loadConv(gpu, source, upsampler, dtype)
        : null,
    });
  }
  return {
    postQuantConv: config.usePostQuantConv
      ? await loadConv(gpu, source, "post_quant_conv", dtype)
      : null,
    convIn: await loadConv(gpu, source, "decoder.conv_in", dtype),
    midResnets: [
      await loadResnet(gpu, source, "decoder.mid_block.resnets.0", dtype),
      await loadResnet(gpu, source, "decoder.mid_block.resnets.1", dtype),
    ],
    midAttention: config.midBlockAttention ? await loadAttention(gpu, source, top, dtype) : null,
    upBlocks,
    normOut: await loadNorm(gpu, source, "decoder.conv_norm_out"),
    convOut: await loadConv(gpu, source, "decoder.conv_out", dtype),
  };
}

/** Every tensor of the weights, for release. */
export function vaeWeightTensors(w: VaeDecoderWeights): Tensor[] {
  const tensors: Tensor[] = [];
  const pair = (p: { weight: Tensor; bias: Tensor } | null) => {
    if (p) tensors.push(p.weight, p.bias);
  };
  const resnet = (r: ResnetWeights) => {
    for (const p of [r.norm1, r.conv1, r.norm2, r.conv2, r.shortcut]) pair(p);
  };
  pair(w.postQuantConv);
  pair(w.convIn);
  w.midResnets.forEach(resnet);
  if (w.midAttention) {
    const a = w.midAttention;
    for (const p of [a.norm, a.query, a.key, a.value, a.out]) pair(p);
  }
  for (const block of w.upBlocks) {
    block.resnets.forEach(resnet);
    pair(block.upsampler);
  }
  pair(w.normOut);
  pair(w.convOut);
  return tensors;
}
