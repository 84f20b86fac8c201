/**
 * PixArt-α/Σ (diffusers PixArtTransformer2DModel semantics) on the GPU: adaLN-single timestep
 * conditioning shared by all blocks, optional size conditioning, caption projection, and per
 * block self-attention (DiTFastAttn-compressible), masked cross-attention to the caption and
 * the MLP. A forward pass is recorded into one command stream; nothing is read back.
 */

import type { AttentionRuntime } from "../../src/compression/attention_runtime.ts";
import { ShapeError } from "../../src/errors.ts";
import { concatLastAxis } from "../../src/ops/concat.ts";
import { add, silu } from "../../src/ops/elementwise.ts";
import { layerNormModulate } from "../../src/ops/norm.ts";
import { patchEmbed, unpatchify } from "../../src/ops/patch.ts";
import { runStages } from "../../src/sampling/staged_model.ts";
import type { DType, Tensor } from "../../src/tensor.ts";
import { CaptionConditioning } from "../../src/nn/caption_conditioning.ts";
import { applyLinear } from "../../src/nn/layers.ts";
import {
  applyInTurn,
  captionCrossAttention,
  modulatedFeedForward,
  modulatedSelfAttention,
  scalarEmbedding,
} from "../../src/nn/block_layers.ts";
import {
  type FamilyFromSource,
  type FamilyFromSources,
  type FamilyLoad,
  transformerLoaders,
} from "../../src/nn/model_family.ts";
import { PatchTransformer } from "../../src/nn/patch_transformer.ts";
import { parsePixArtConfig, pixartBaseSize, type PixArtConfig } from "./config.ts";
import {
  type EmbedderWeights,
  loadPixArtWeights,
  PIXART_FREQUENCY_CHANNELS,
  type PixArtWeights,
} from "./weights.ts";

export interface PixArtLoadOptions {
  /** Storage of the large linear weights: "f32" (default) or "f16". */
  dtype?: DType;
}

/** The final LayerNorm's epsilon (fixed in diffusers, independent of norm_eps). */
const FINAL_NORM_EPS = 1e-6;

/** The per-pass state shared by the stages of a forward pass. */
export class PixArtPass {
  constructor(
    /** Embedded tokens entering block 0 [B, N, C]. */
    readonly hidden: Tensor,
    /** adaLN-single output [B, 6C], before each block adds its own table. */
    readonly modulation: Tensor,
    /** Final (shift, scale) [B, 2C]. */
    readonly finalModulation: Tensor,
    /** Projected caption [B, L, C] and its mask [B, L]. */
    readonly caption: Tensor,
    readonly mask: Tensor,
    readonly gridH: number,
    readonly gridW: number,
  ) {}

  release(): void {
    for (const t of [this.hidden, this.modulation, this.finalModulation, this.caption, this.mask]) {
      t.release();
    }
  }
}

export class PixArtModel extends PatchTransformer<PixArtConfig, PixArtWeights> {
  readonly family = "pixart" as const;

  static readonly #loaders = transformerLoaders(
    parsePixArtConfig,
    loadPixArtWeights,
    (...args) => new PixArtModel(...args),
  );

  /**
   * Loads a diffusers PixArt transformer folder (`config.json` + safetensors, single or
   * sharded). Keys and shapes are all checked before any upload.
   */
  static readonly load: FamilyLoad<PixArtLoadOptions, PixArtModel> = PixArtModel.#loaders.load;

  /** Builds a model from a config.json value and a tensor source (bytes, a URL, memory). */
  static readonly fromSources: FamilyFromSources<PixArtLoadOptions, PixArtModel> =
    PixArtModel.#loaders.fromSources;

  /** Builds a model from any tensor source (a checkpoint, or weights made in memory). */
  static readonly fromSource: FamilyFromSource<PixArtConfig, PixArtLoadOptions, PixArtModel> =
    PixArtModel.#loaders.fromSource;

  /** The 2D sincos table for a token grid, relative to the trained grid (base_size). */
  #positionEmbedding(gridH: number, gridW: number): Tensor {
    const { interpolationScale } = this.config;
    return this.positionTable(gridH, gridW, pixartBaseSize(this.config), interpolationScale);
  }

  /** Checks a model input before any GPU work. */
  checkInput(x: Tensor, conditioning: CaptionConditioning): void {
    const { inChannels, patchSize, captionChannels, useAdditionalConditions } = this.config;
    const [batch, channels, height, width] = x.shape;
    if (x.shape.length !== 4 || channels !== inChannels || x.dtype !== "f32") {
      throw new ShapeError(
        `PixArt input: expected f32 [B, ${inChannels}, H, W], got ${x.dtype} [${x.shape}]`,
      );
    }
    if (height % patchSize !== 0 || width % patchSize !== 0) {
      throw new ShapeError(
        `PixArt input: latent ${height}×${width} is not divisible by the patch size ${patchSize}`,
      );
    }
    if (conditioning.batch !== batch) {
      throw new ShapeError(
        `PixArt caption batch ${conditioning.batch} does not match the latent batch ${batch}`,
      );
    }
    const expectedWidth = conditioning.projected ? this.width : captionChannels;
    const captionWidth = conditioning.caption.shape[2];
    if (captionWidth !== expectedWidth) {
      throw new ShapeError(
        `PixArt caption: embeddings are ${captionWidth} wide, the model's ` +
          `${conditioning.projected ? "width" : "caption_channels"} is ${expectedWidth}`,
      );
    }
    if (conditioning.length === 0) throw new ShapeError("PixArt caption: no text tokens (L = 0)");
    if (useAdditionalConditions && !conditioning.sizes) {
      throw new ShapeError(
        "PixArt: this model uses size conditioning (use_additional_conditions); " +
          "the conditioning needs resolution and aspect ratio per sample",
      );
    }
  }

  /** caption_projection: linear_1 → GELU(tanh) → linear_2, [B, L, captionChannels] → [B, L, C]. */
  projectCaption(conditioning: CaptionConditioning): CaptionConditioning {
    if (conditioning.projected) {
      const { caption, mask } = conditioning;
      return new CaptionConditioning(
        caption.reshape(caption.shape),
        mask.reshape(mask.shape),
        conditioning.sizes,
        true,
      );
    }
    const width = conditioning.caption.shape[2];
    if (width !== this.config.captionChannels) {
      throw new ShapeError(
        `PixArt caption: embeddings are ${width} wide, caption_channels is ${this.config.captionChannels}`,
      );
    }
    const hidden = applyLinear(conditioning.caption, this.weights.captionLinear1, "gelu_tanh");
    const projected = applyLinear(hidden, this.weights.captionLinear2);
    hidden.release();
    const mask = conditioning.mask;
    return new CaptionConditioning(projected, mask.reshape(mask.shape), conditioning.sizes, true);
  }

  /**
   * Model output [B, outChannels, H, W] for latents x [B, inChannels, H, W] at one timestep
   * (the same for the whole batch), conditioned on captions (batch [cond; uncond] when guided).
   */
  forward(
    x: Tensor,
    timestep: number,
    conditioning: CaptionConditioning,
    attention?: AttentionRuntime,
  ): Tensor {
    return runStages(this, this.begin(x, timestep, conditioning), attention);
  }

  /** Patch and position embedding, the shared adaLN-single conditioning and the caption. */
  begin(x: Tensor, timestep: number, conditioning: CaptionConditioning): PixArtPass {
    this.checkInput(x, conditioning);
    const { patchSize } = this.config;
    const [batch, , height, width] = x.shape;
    const gridH = height / patchSize, gridW = width / patchSize;
    const patches = patchEmbed(x, this.weights.patchWeight, this.weights.patchBias, patchSize);
    const hidden = add(patches, this.#positionEmbedding(gridH, gridW));
    patches.release();
    const embedded = this.#embedConditions(new Array(batch).fill(timestep), conditioning);
    const activated = silu(embedded);
    const modulation = applyLinear(activated, this.weights.adaLNSingle);
    activated.release();
    // Final (shift, scale) = scale_shift_table + e on both halves.
    const doubled = concatLastAxis([embedded, embedded]);
    const finalModulation = add(doubled, this.weights.finalScaleShift);
    doubled.release();
    embedded.release();
    const projected = this.projectCaption(conditioning);
    const pass = new PixArtPass(
      hidden,
      modulation,
      finalModulation,
      projected.caption.reshape(projected.caption.shape),
      projected.mask.reshape(projected.mask.shape),
      gridH,
      gridW,
    );
    projected.release();
    return pass;
  }

  /** Block `layer` applied to hidden states h [B, N, C]; returns the new hidden states. */
  block(pass: PixArtPass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor {
    const { numHeads: heads, normEps } = this.config;
    const block = this.weights.blocks[layer];
    // [B, 6C]: shift1 scale1 gate1 shift2 scale2 gate2.
    const mod = add(pass.modulation, block.scaleShiftTable);
    const attended = { qkv: block.qkv, out: block.attnOut };
    const crossed = { query: block.crossQuery, keyValue: block.crossKeyValue, out: block.crossOut };
    const out = applyInTurn(h, [
      (x) => modulatedSelfAttention(x, normEps, mod, attended, heads, layer, attention),
      // Cross-attention reads the residual stream directly: no norm, no gate (ada_norm_single).
      (x) => captionCrossAttention(x, pass.caption, pass.mask, crossed, heads),
      (x) => modulatedFeedForward(x, normEps, mod, block.fc1, block.fc2),
    ]);
    mod.release();
    return out;
  }

  /** Final modulated LayerNorm, projection and unpatchify: [B, outChannels, H, W]. */
  end(pass: PixArtPass, h: Tensor): Tensor {
    const { patchSize, outChannels } = this.config;
    const normed = layerNormModulate(h, FINAL_NORM_EPS, pass.finalModulation, 0, 1);
    const tokens = applyLinear(normed, this.weights.finalProj);
    normed.release();
    const out = unpatchify(tokens, outChannels, patchSize, pass.gridH, pass.gridW);
    tokens.release();
    return out;
  }

  /**
   * e [B, C] = timestep MLP(sincos(t)), plus with size conditioning
   * cat(resolution MLP(sincos(h)), resolution MLP(sincos(w)), aspect MLP(sincos(h/w))).
   */
  #embedConditions(timesteps: number[], conditioning: CaptionConditioning): Tensor {
    const batch = timesteps.length;
    const e = this.#embedder(timesteps, this.weights.timestepEmbedder);
    const { resolutionEmbedder, aspectRatioEmbedder } = this.weights;
    if (!this.config.useAdditionalConditions || !resolutionEmbedder || !aspectRatioEmbedder) {
      return e;
    }
    const sizes = conditioning.sizes!;
    const resolution = this.#embedder([...sizes.resolution], resolutionEmbedder);
    const aspect = this.#embedder([...sizes.aspectRatio], aspectRatioEmbedder);
    // [2B, C/3] rows (h_b, w_b) read as [B, 2C/3]: the per-sample concatenation diffusers makes.
    const pairs = resolution.reshape([batch, (2 * this.width) / 3]);
    const sizeEmbedding = concatLastAxis([pairs, aspect]);
    for (const t of [resolution, pairs, aspect]) t.release();
    const combined = add(e, sizeEmbedding);
    e.release();
    sizeEmbedding.release();
    return combined;
  }

  /** linear_2(SiLU(linear_1(sincos₂₅₆(values)))) for one value per row. */
  #embedder(values: number[], weights: EmbedderWeights): Tensor {
    return scalarEmbedding(this.gpu, values, PIXART_FREQUENCY_CHANNELS, weights);
  }
}
