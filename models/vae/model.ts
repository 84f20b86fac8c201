/**
 * The decoder of diffusers' AutoencoderKL on the GPU: latents [B, latent, h, w] → images
 * [B, out, h·2^(L−1), w·2^(L−1)] in [0, 1]. A decode is one recorded command stream; nothing is
 * read back.
 *
 * Each GroupNorm(+SiLU) is a statistics pass plus a normalisation folded into the next conv's
 * input pack, and each upsample is folded into its conv, so neither result is ever stored.
 */

import { ShapeError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import {
  conv2d,
  type Conv2dOptions,
  type ConvInputNorm,
  type ConvOutputMap,
} from "../../src/ops/conv.ts";
import { add, scale } from "../../src/ops/elementwise.ts";
import { groupNormApply, groupNormStats } from "../../src/ops/group_norm.ts";
import { linear } from "../../src/ops/linear.ts";
import { softmax } from "../../src/ops/softmax.ts";
import { Tensor } from "../../src/tensor.ts";
import { weightDtype } from "../../src/io/model_folder.ts";
import { familyLoaders, type ModelFamily } from "../../src/nn/model_family.ts";
import { parseVaeConfig, upscaleFactor, VAE_NORM_EPS, type VaeConfig } from "./config.ts";
import {
  type AttentionWeights,
  type ConvWeights,
  loadVaeDecoderWeights,
  type NormWeights,
  type ResnetWeights,
  type VaeDecoderWeights,
  type VaeWeightDtype,
  vaeWeightTensors,
} from "./weights.ts";

export interface VaeLoadOptions {
  /**
   * Storage of the conv and attention projection weights: "f32" (default) or "f16" (half the
   * weight buffers; widened exactly when packed, so it works without shader-f16).
   */
  dtype?: VaeWeightDtype;
}

/** image = clamp(x/2 + 0.5, 0, 1), fused into the last conv. */
const TO_PIXELS: ConvOutputMap = { scale: 0.5, shift: 0.5, min: 0, max: 1 };

/**
 * Scores per query chunk of the mid-block attention (16 MiB of f32): the score buffer is
 * [chunk, N], never N × N once N² exceeds this.
 */
const SCORE_BUDGET = 1 << 22;

const VAE_FAMILY: ModelFamily<VaeConfig, VaeLoadOptions, VaeDecoder> = {
  kind: "VAE",
  parse: parseVaeConfig,
  build: (gpu, config, source, options) => VaeDecoder.fromSource(gpu, config, source, options),
};

export class VaeDecoder {
  #released = false;

  private constructor(
    readonly gpu: Gpu,
    readonly config: VaeConfig,
    private readonly weights: VaeDecoderWeights,
  ) {}

  /** Loads `config.json` and the (possibly sharded) safetensors weights of an AutoencoderKL. */
  static readonly load = familyLoaders(VAE_FAMILY).load;

  /** Builds a model from a config.json value and a tensor source (bytes, a URL, memory). */
  static readonly fromSources = familyLoaders(VAE_FAMILY).fromSources;

  /** Builds a decoder from any tensor source (checked up front, all problems in one error). */
  static async fromSource(
    gpu: Gpu,
    config: VaeConfig,
    source: TensorSource,
    options: VaeLoadOptions = {},
  ): Promise<VaeDecoder> {
    const dtype = weightDtype(options.dtype, "VAE weight");
    return new VaeDecoder(gpu, config, await loadVaeDecoderWeights(gpu, source, config, dtype));
  }

  /** Images in [0, 1]: [B, out, f·h, f·w] with f = 2^(levels − 1). */
  decode(latents: Tensor): Tensor {
    return this.#decode(latents, TO_PIXELS);
  }

  /** The decoder output before x/2 + 0.5 and the clamp. */
  decodeRaw(latents: Tensor): Tensor {
    return this.#decode(latents, undefined);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const t of vaeWeightTensors(this.weights)) t.release();
  }

  #checkLatents(latents: Tensor): void {
    if (this.#released) throw new Error("VaeDecoder used after release()");
    const c = this.config.latentChannels;
    const ok = latents.dtype === "f32" && latents.shape.length === 4 && latents.shape[1] === c &&
      latents.shape[2] > 0 && latents.shape[3] > 0;
    if (!ok) {
      throw new ShapeError(
        `VaeDecoder: latents must be f32 [B, ${c}, h, w], got ${latents.dtype} [${latents.shape}]`,
      );
    }
  }

  #decode(latents: Tensor, outputMap: ConvOutputMap | undefined): Tensor {
    this.#checkLatents(latents);
    const w = this.weights;
    const { scalingFactor, shiftFactor, normGroups } = this.config;
    let z = scale(latents, 1 / scalingFactor);
    if (shiftFactor !== 0) {
      const shift = Tensor.fromArray(this.gpu, new Float32Array([shiftFactor]), [1]);
      z = replace(z, add(z, shift));
      shift.release();
    }
    if (w.postQuantConv) z = replace(z, conv(z, w.postQuantConv));
    let x = conv(z, w.convIn);
    z.release();
    x = replace(x, this.#resnet(x, w.midResnets[0]));
    if (w.midAttention) x = replace(x, this.#attention(x, w.midAttention));
    x = replace(x, this.#resnet(x, w.midResnets[1]));
    for (const block of w.upBlocks) {
      for (const resnet of block.resnets) x = replace(x, this.#resnet(x, resnet));
      if (block.upsampler) x = replace(x, conv(x, block.upsampler, { upsample: true }));
    }
    const stats = groupNormStats(x, normGroups, VAE_NORM_EPS);
    const out = conv(x, w.convOut, { normalize: normalize(stats, w.normOut, true), outputMap });
    stats.release();
    x.release();
    return out;
  }

  /** ResnetBlock2D: shortcut(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x)))))). */
  #resnet(x: Tensor, r: ResnetWeights): Tensor {
    const groups = this.config.normGroups;
    const stats1 = groupNormStats(x, groups, VAE_NORM_EPS);
    const h = conv(x, r.conv1, { normalize: normalize(stats1, r.norm1, true) });
    stats1.release();
    const stats2 = groupNormStats(h, groups, VAE_NORM_EPS);
    const shortcut = r.shortcut ? conv(x, r.shortcut) : x;
    const out = conv(h, r.conv2, {
      normalize: normalize(stats2, r.norm2, true),
      residual: shortcut,
    });
    stats2.release();
    h.release();
    if (shortcut !== x) shortcut.release();
    return out;
  }

  /**
   * The mid-block's single-head self-attention over the h·w positions, + x. Scores are formed
   * per chunk of queries with the linear kernel ([chunk, N] at a time, q pre-scaled by 1/√C).
   * (fullAttention is the flash kernel for DiT head sizes; at C = 512 its per-invocation
   * registers are 8× a DiT head's and lavapipe compiles it for minutes.)
   */
  #attention(x: Tensor, a: AttentionWeights): Tensor {
    const [batch, channels, height, width] = x.shape;
    const tokens = height * width;
    const stats = groupNormStats(x, this.config.normGroups, VAE_NORM_EPS);
    const normed = groupNormApply(x, stats, a.norm.weight, a.norm.bias, { output: "tokens" });
    const q = linear(normed, a.query.weight, a.query.bias);
    const k = linear(normed, a.key.weight, a.key.bias);
    normed.release();
    // vᵀ per sample [C, N] is exactly an NCHW 1×1 conv of the normalised input.
    const vT = conv(x, a.value, { normalize: normalize(stats, a.norm, false) });
    stats.release();
    const attended = Tensor.empty(this.gpu, [batch, tokens, channels], "f32", "vae-attention");
    const rows = q.reshape([batch * tokens, channels]);
    const keys = k.reshape([batch * tokens, channels]);
    const values = vT.reshape([batch * channels, tokens]);
    // The score chunk must also fit one storage binding (the linear kernel binds it whole).
    const budget = Math.min(SCORE_BUDGET, this.gpu.limits.maxStorageBufferBindingSize / 4);
    const chunk = Math.max(1, Math.min(tokens, Math.floor(budget / tokens)));
    for (let b = 0; b < batch; b++) {
      const kb = keys.rows(b * tokens, tokens);
      const vb = values.rows(b * channels, channels);
      for (let q0 = 0; q0 < tokens; q0 += chunk) {
        const count = Math.min(chunk, tokens - q0);
        const qc = rows.rows(b * tokens + q0, count);
        const scores = linear(qc, kb);
        const probabilities = softmax(scores);
        const o = linear(probabilities, vb);
        const bytes = count * channels * 4;
        const target = attended.binding();
        this.gpu.copy(o.binding(), {
          ...target,
          offset: target.offset + (b * tokens + q0) * channels * 4,
        }, bytes);
        for (const t of [qc, scores, probabilities, o]) t.release();
      }
      kb.release();
      vb.release();
    }
    for (const t of [q, k, vT, rows, keys, values]) t.release();
    const attendedMap = attended.reshape([batch, height, width, channels]);
    attended.release();
    const out = conv(attendedMap, a.out, { inputLayout: "nhwc", residual: x });
    attendedMap.release();
    return out;
  }

  /** Output size for latents of h × w. */
  imageSize(height: number, width: number): [number, number] {
    const f = upscaleFactor(this.config);
    return [height * f, width * f];
  }
}

function conv(
  x: Tensor,
  weights: ConvWeights,
  options: Conv2dOptions = {},
): Tensor {
  return conv2d(x, weights.weight, weights.bias, options);
}

function normalize(stats: Tensor, norm: NormWeights, silu: boolean): ConvInputNorm {
  return { stats, weight: norm.weight, bias: norm.bias, silu };
}

/** Releases `old` and returns `next` (for x = f(x) chains). */
function replace(old: Tensor, next: Tensor): Tensor {
  old.release();
  return next;
}
