/**
 * DiT (diffusers DiTTransformer2DModel semantics, docs/DESIGN.md §2) on the GPU. A forward pass is a
 * sequence of kernel launches recorded into one command stream; nothing is read back.
 */

import type { AttentionRuntime } from "../../src/compression/attention_runtime.ts";
import { ShapeError } from "../../src/errors.ts";
import { add } from "../../src/ops/elementwise.ts";
import { embeddingLookup, timestepEmbeddingCpu } from "../../src/ops/embedding.ts";
import { layerNormModulate } from "../../src/ops/norm.ts";
import { silu } from "../../src/ops/elementwise.ts";
import { patchEmbed, unpatchify } from "../../src/ops/patch.ts";
import { runStages } from "../../src/sampling/staged_model.ts";
import { type DType, Tensor } from "../../src/tensor.ts";
import { type DiTConfig, parseDiTConfig } from "./config.ts";
import { type DiTBlockWeights, type DiTWeights, loadDiTWeights } from "./weights.ts";
import { applyLinear } from "../../src/nn/layers.ts";
import {
  applyInTurn,
  modulatedFeedForward,
  modulatedSelfAttention,
} from "../../src/nn/block_layers.ts";
import {
  type FamilyFromSource,
  type FamilyFromSources,
  type FamilyLoad,
  transformerLoaders,
} from "../../src/nn/model_family.ts";
import { PatchTransformer } from "../../src/nn/patch_transformer.ts";

export interface DiTLoadOptions {
  /**
   * Storage of the large linear weights: "f32" (default) or "f16" (half the memory; the linear
   * kernel widens f16 words itself, so it works with or without the shader-f16 feature).
   */
  dtype?: DType;
  /**
   * Free the buffer of each large linear weight once the linear kernel has packed it into its
   * texture, on CPU adapters where that texture is all the kernel reads: the weights then take
   * their size once instead of twice (default false; such weights serve `linear` only).
   */
  freePackedWeights?: boolean;
}

/** Sinusoidal width of the timestep embedding fed to each block's timestep MLP. */
const TIMESTEP_CHANNELS = 256;

/** The per-pass state shared by the stages of a forward pass. */
export class ForwardPass {
  constructor(
    /** Embedded tokens entering block 0 [B, N, C]. */
    readonly hidden: Tensor,
    /** Each block's conditioning vector c [B, C]. */
    readonly conditionings: Tensor[],
    readonly gridH: number,
    readonly gridW: number,
  ) {}

  release(): void {
    this.hidden.release();
    for (const c of this.conditionings) c.release();
  }
}

export class DiTModel extends PatchTransformer<DiTConfig, DiTWeights> {
  readonly family = "dit" as const;

  static readonly #loaders = transformerLoaders(
    parseDiTConfig,
    loadDiTWeights,
    (...args) => new DiTModel(...args),
  );

  /**
   * Loads a diffusers DiT folder (`config.json` + `diffusion_pytorch_model.safetensors`, or a
   * sharded `*.safetensors.index.json`). Keys and shapes are all checked before any upload.
   */
  static readonly load: FamilyLoad<DiTLoadOptions, DiTModel> = DiTModel.#loaders.load;

  /** Builds a model from a config.json value and a tensor source (bytes, a URL, memory). */
  static readonly fromSources: FamilyFromSources<DiTLoadOptions, DiTModel> =
    DiTModel.#loaders.fromSources;

  /** Builds a model from any tensor source (a checkpoint, or weights made in memory). */
  static readonly fromSource: FamilyFromSource<DiTConfig, DiTLoadOptions, DiTModel> =
    DiTModel.#loaders.fromSource;

  /** The 2D sincos position embedding for a token grid (DiT: base size = the grid itself). */
  #positionEmbedding(gridH: number, gridW: number): Tensor {
    return this.positionTable(gridH, gridW, this.config.sampleSize / this.config.patchSize, 1);
  }

  /** Checks a model input before any GPU work. */
  checkInput(x: Tensor, labels: Tensor): void {
    const { inChannels, patchSize } = this.config;
    const [batch, channels, height, width] = x.shape;
    if (x.shape.length !== 4 || channels !== inChannels) {
      throw new ShapeError(`DiT input: expected [B, ${inChannels}, H, W], got [${x.shape}]`);
    }
    if (height % patchSize !== 0 || width % patchSize !== 0) {
      throw new ShapeError(
        `DiT input: ${height}×${width} is not divisible by the patch size ${patchSize}`,
      );
    }
    if (labels.shape.length !== 1 || labels.shape[0] !== batch || labels.dtype !== "i32") {
      throw new ShapeError(
        `DiT labels: expected i32 [${batch}], got ${labels.dtype} [${labels.shape}]`,
      );
    }
  }

  /**
   * Model output [B, outChannels, H, W] for x [B, inChannels, H, W] at one timestep (the same
   * for the whole batch) with class labels (i32 [B]; the null class = numClasses).
   */
  forward(x: Tensor, timestep: number, labels: Tensor, attention?: AttentionRuntime): Tensor {
    return runStages(this, this.begin(x, timestep, labels), attention);
  }

  /**
   * First stage of a forward pass: patch and position embedding, and every block's
   * conditioning. Calibration runs the blocks of a pass one at a time from here.
   */
  begin(x: Tensor, timestep: number, labels: Tensor): ForwardPass {
    this.checkInput(x, labels);
    const { patchSize } = this.config;
    const [batch, , height, width] = x.shape;
    const gridH = height / patchSize, gridW = width / patchSize;
    const temb = Tensor.fromArray(
      this.gpu,
      timestepEmbeddingCpu(new Array(batch).fill(timestep), TIMESTEP_CHANNELS, {
        flipSinToCos: true,
        downscaleFreqShift: 1,
      }),
      [batch, TIMESTEP_CHANNELS],
      "f32",
      "timestep",
    );
    const patches = patchEmbed(x, this.weights.patchWeight, this.weights.patchBias, patchSize);
    const hidden = add(patches, this.#positionEmbedding(gridH, gridW));
    patches.release();
    const conditionings = this.weights.blocks.map((block) =>
      this.#conditioning(block, temb, labels)
    );
    temb.release();
    return new ForwardPass(hidden, conditionings, gridH, gridW);
  }

  /** Block `layer` applied to hidden states h [B, N, C]; returns the new hidden states. */
  block(pass: ForwardPass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor {
    return this.#block(
      h,
      this.weights.blocks[layer],
      pass.conditionings[layer],
      layer,
      attention,
    );
  }

  /** Final adaLN, projection and unpatchify: [B, outChannels, H, W]. */
  end(pass: ForwardPass, h: Tensor): Tensor {
    const { patchSize, outChannels } = this.config;
    // diffusers takes the final shift/scale from block 0's conditioning embedder.
    const activated = silu(pass.conditionings[0]);
    const finalMod = applyLinear(activated, this.weights.finalAdaLN);
    activated.release();
    const normed = layerNormModulate(h, 1e-6, finalMod, 0, 1);
    finalMod.release();
    const tokens = applyLinear(normed, this.weights.finalProj);
    normed.release();
    const out = unpatchify(tokens, outChannels, patchSize, pass.gridH, pass.gridW);
    tokens.release();
    return out;
  }

  /** c = MLP(timestep embedding) + class embedding, with this block's own embedders. */
  #conditioning(block: DiTBlockWeights, temb: Tensor, labels: Tensor): Tensor {
    const hidden = applyLinear(temb, block.timestepLinear1, "silu");
    const t = applyLinear(hidden, block.timestepLinear2);
    hidden.release();
    const y = embeddingLookup(block.classTable, labels);
    const c = add(t, y);
    t.release();
    y.release();
    return c;
  }

  #block(
    h: Tensor,
    block: DiTBlockWeights,
    conditioning: Tensor,
    layer: number,
    attention?: AttentionRuntime,
  ): Tensor {
    const { numHeads: heads, normEps } = this.config;
    const activated = silu(conditioning);
    const mod = applyLinear(activated, block.adaLN); // [B, 6C]: shift1 scale1 gate1 shift2 scale2 gate2
    activated.release();
    const attended = { qkv: block.qkv, out: block.attnOut };
    const out = applyInTurn(h, [
      (x) => modulatedSelfAttention(x, 1e-6, mod, attended, heads, layer, attention),
      (x) => modulatedFeedForward(x, normEps, mod, block.fc1, block.fc2),
    ]);
    mod.release();
    return out;
  }
}
