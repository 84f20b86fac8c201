/**
 * Open-Sora STDiT2 (v1.1) on the GPU, as docs/STDIT.md specifies it. Hidden states stay
 * frame-major [B, T·S, C]: spatial attention sees them as [B·T, S, C] (one frame's tokens, the
 * self-attention DiTFastAttn compresses), temporal attention runs over [B·S, T, C] after an axis
 * swap, cross-attention over every token of a sample with its caption mask.
 */

import { runStages, type StagedPass } from "../../src/sampling/staged_model.ts";
import type { AttentionRuntime } from "../../src/compression/attention_runtime.ts";
import { ShapeError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import { fullAttention } from "../../src/ops/attention.ts";
import { add, gatedResidualAdd, silu } from "../../src/ops/elementwise.ts";
import { concatColumns, repeatColumns, swapMiddleAxes } from "../../src/ops/layout.ts";
import { layerNormModulate } from "../../src/ops/norm.ts";
import { qkNormInPlace, type RopeTables, ropeTables } from "../../src/ops/qk_norm.ts";
import { patchEmbed3d, tokenGrid, unpatchify3d } from "../../src/ops/video_patch.ts";
import { type DType, Tensor } from "../../src/tensor.ts";
import { releaseWeights } from "../../src/nn/weight_loading.ts";
import {
  applyInTurn,
  captionCrossAttention,
  modulatedFeedForward,
  scalarEmbedding,
} from "../../src/nn/block_layers.ts";
import { applyLinear, selfAttention } from "../../src/nn/layers.ts";
import { mapRowChunks, rowsPerBinding } from "../../src/nn/row_chunks.ts";
import type { VideoConditioning } from "./conditioning.ts";
import { parseSTDiT2Config, type STDiT2Config } from "./config.ts";
import { positionScale, stdit2PositionEmbedding } from "./position.ts";
import {
  type FamilyFromSource,
  type FamilyFromSources,
  type FamilyLoad,
  transformerLoaders,
  TransformerShape,
} from "../../src/nn/model_family.ts";
import {
  loadSTDiT2Weights,
  type ScalarEmbedderWeights,
  SINUSOID_CHANNELS,
  type STDiT2AttentionWeights,
  type STDiT2BlockWeights,
  type STDiT2Weights,
} from "./weights.ts";

export interface STDiT2LoadOptions {
  /** Storage of the large block matrices: "f32" (default) or "f16". */
  dtype?: DType;
  /**
   * Free each block matrix's buffer once packed into the linear kernel's texture, on CPU
   * adapters where that texture is all the kernel reads: the weights are held once instead of
   * twice (default false; such weights serve `linear` only).
   */
  freePackedWeights?: boolean;
}

/** Every LayerNorm of STDiT2 (blocks and final layer) uses this epsilon, without affine. */
const NORM_EPS = 1e-6;
/** Epsilon of the q/k RMSNorm. */
const QK_NORM_EPS = 1e-6;

/** Token grid of a latent video: frames T, rows and columns after padding, S = rows·columns. */
export interface VideoGrid {
  frames: number;
  rows: number;
  columns: number;
  tokensPerFrame: number;
}

/** The state one forward pass shares between its stages. */
export class STDiT2Pass implements StagedPass {
  constructor(
    /** Embedded tokens entering block 0 [B, T·S, C]. */
    readonly hidden: Tensor,
    /** t_block output [B, 6C] (each block adds its own table). */
    readonly spatialModulation: Tensor,
    /** t_block_temp output [B, 3C]. */
    readonly temporalModulation: Tensor,
    /** Final-layer shift and scale [B, 2C] (its table plus the plain timestep embedding). */
    readonly finalModulation: Tensor,
    /** Projected captions [B, L, C]. */
    readonly captions: Tensor,
    readonly mask: Tensor,
    readonly grid: VideoGrid,
    /** The unpadded latent size [T, H, W], for the crop. */
    readonly latentSize: readonly [number, number, number],
  ) {}

  release(): void {
    for (
      const t of [
        this.hidden,
        this.spatialModulation,
        this.temporalModulation,
        this.finalModulation,
        this.captions,
      ]
    ) t.release();
  }
}

export class STDiT2Model extends TransformerShape {
  readonly family = "stdit2" as const;
  #positions = new Map<string, Tensor>();
  #rope = new Map<number, RopeTables>();

  private constructor(
    readonly gpu: Gpu,
    readonly config: STDiT2Config,
    readonly weights: STDiT2Weights,
    /** Where the weights came from (for reports and plan files). */
    readonly source: string,
  ) {
    super(config.inChannels, config.outChannels, config.depth, config.hiddenSize);
  }

  static readonly #loaders = transformerLoaders(
    parseSTDiT2Config,
    loadSTDiT2Weights,
    (...args) => new STDiT2Model(...args),
  );

  /**
   * Loads an Open-Sora STDiT2 folder (`config.json` + `*.safetensors`, possibly sharded). Keys
   * and shapes are all checked before any upload.
   */
  static readonly load: FamilyLoad<STDiT2LoadOptions, STDiT2Model> = STDiT2Model.#loaders.load;

  /** Builds a model from a config.json value and a tensor source (bytes, a URL, memory). */
  static readonly fromSources: FamilyFromSources<STDiT2LoadOptions, STDiT2Model> =
    STDiT2Model.#loaders.fromSources;

  /** Builds a model from any tensor source (a checkpoint, or weights made in memory). */
  static readonly fromSource: FamilyFromSource<STDiT2Config, STDiT2LoadOptions, STDiT2Model> =
    STDiT2Model.#loaders.fromSource;

  get heads(): number {
    return this.config.numHeads;
  }

  /** Token grid of a latent video of T × H × W (padded to whole patches). */
  grid(frames: number, height: number, width: number): VideoGrid {
    const [gt, gh, gw] = tokenGrid({
      batch: 1,
      channels: this.inChannels,
      frames,
      height,
      width,
      patch: this.config.patchSize,
    });
    return { frames: gt, rows: gh, columns: gw, tokensPerFrame: gh * gw };
  }

  /** Checks a model input against its conditioning before any GPU work. */
  checkInput(x: Tensor, conditioning: VideoConditioning, timesteps: readonly number[]): void {
    const { inChannels, captionChannels } = this.config;
    const [batch, channels, frames, height, width] = x.shape;
    if (x.shape.length !== 5 || channels !== inChannels || x.dtype !== "f32") {
      throw new ShapeError(
        `STDiT2 input: expected f32 [B, ${inChannels}, T, H, W], got ${x.dtype} [${x.shape}]`,
      );
    }
    if (frames < 1 || height < 1 || width < 1) {
      throw new ShapeError(`STDiT2 input: empty video [${x.shape}]`);
    }
    if (conditioning.batch !== batch) {
      throw new ShapeError(
        `STDiT2: conditioning covers ${conditioning.batch} samples, the input has ${batch}`,
      );
    }
    const [, tokens, captionWidth] = conditioning.captions.shape;
    if (captionWidth !== captionChannels) {
      throw new ShapeError(
        `STDiT2 captions: expected width ${captionChannels} (caption_channels), got ` +
          `[${conditioning.captions.shape}]`,
      );
    }
    if (conditioning.mask.shape[1] !== tokens) {
      throw new ShapeError(
        `STDiT2: caption mask [${conditioning.mask.shape}] does not match captions of ` +
          `${tokens} tokens`,
      );
    }
    if (timesteps.length !== batch) {
      throw new ShapeError(`STDiT2: ${timesteps.length} timesteps for a batch of ${batch}`);
    }
  }

  /**
   * Model output [B, outChannels, T, H, W] for a latent video x [B, inChannels, T, H, W] at
   * `timestep` (one for the batch, or one per sample).
   */
  forward(
    x: Tensor,
    timestep: number | readonly number[],
    conditioning: VideoConditioning,
    attention?: AttentionRuntime,
  ): Tensor {
    return runStages(this, this.begin(x, timestep, conditioning), attention);
  }

  /**
   * First stage: patch and position embedding, the timestep/size/frame conditioning vectors
   * and the projected captions.
   */
  begin(
    x: Tensor,
    timestep: number | readonly number[],
    conditioning: VideoConditioning,
  ): STDiT2Pass {
    const batch = x.shape[0];
    const timesteps = typeof timestep === "number" ? Array(batch).fill(timestep) : [...timestep];
    this.checkInput(x, conditioning, timesteps);
    const w = this.weights;
    const [, , frames, height, width] = x.shape;
    const grid = this.grid(frames, height, width);
    const info = conditioning.info;

    const t = this.#embed(w.timestep, timesteps);
    // Height and width go through one embedder as rows (b, 0) and (b, 1): [2B, C/3] → [B, 2C/3].
    const sizeRows = this.#embed(w.size, info.flatMap((v) => [v.height, v.width]));
    const size = sizeRows.reshape([batch, (2 * this.width) / 3]);
    sizeRows.release();
    const aspect = this.#embed(w.aspectRatio, info.map((v) => v.aspectRatio));
    const dataInfo = concatColumns([size, aspect]);
    const frameCount = this.#embed(w.frames, info.map((v) => v.frames));
    const fps = this.#embed(w.fps, info.map((v) => v.fps));
    const frameInfo = add(frameCount, fps);
    for (const tensor of [size, aspect, frameCount, fps]) tensor.release();
    const spatialModulation = this.#modulation(t, dataInfo, w.spatialModulation);
    const temporalModulation = this.#modulation(t, frameInfo, w.temporalModulation);
    dataInfo.release();
    frameInfo.release();
    const tTwice = repeatColumns(t, 2);
    const finalModulation = add(tTwice, w.finalScaleShift);
    tTwice.release();
    t.release();

    const patches = patchEmbed3d(x, w.patchWeight, w.patchBias, this.config.patchSize);
    const hidden = add(patches, this.#positionEmbedding(grid, info[0].height, info[0].width));
    patches.release();
    const captionHidden = applyLinear(conditioning.captions, w.captionFc1, "gelu_tanh");
    const captions = applyLinear(captionHidden, w.captionFc2);
    captionHidden.release();
    return new STDiT2Pass(
      hidden,
      spatialModulation,
      temporalModulation,
      finalModulation,
      captions,
      conditioning.mask,
      grid,
      [frames, height, width],
    );
  }

  /** Block `layer` applied to hidden states h [B, T·S, C]. */
  block(pass: STDiT2Pass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor {
    const w = this.weights.blocks[layer];
    const modulation = add(pass.spatialModulation, w.scaleShift); // shift, scale, gate ×2
    const temporalModulation = add(pass.temporalModulation, w.scaleShiftTemporal);
    const crossed = { query: w.crossQ, keyValue: w.crossKv, out: w.crossProj };
    const out = applyInTurn(h, [
      (x) => this.#spatialAttention(pass, layer, x, w, modulation, attention),
      (x) => this.#temporalAttention(pass, x, w, temporalModulation),
      (x) => captionCrossAttention(x, pass.captions, pass.mask, crossed, this.heads),
      (x) => modulatedFeedForward(x, NORM_EPS, modulation, w.fc1, w.fc2),
    ]);
    modulation.release();
    temporalModulation.release();
    return out;
  }

  /** Final layer, projection and unpatchify with the padding cropped: [B, outChannels, T, H, W]. */
  end(pass: STDiT2Pass, h: Tensor): Tensor {
    const normed = layerNormModulate(h, NORM_EPS, pass.finalModulation, 0, 1);
    const tokens = applyLinear(normed, this.weights.finalLinear);
    normed.release();
    const [frames, height, width] = pass.latentSize;
    const out = unpatchify3d(
      tokens,
      this.outChannels,
      this.config.patchSize,
      frames,
      height,
      width,
    );
    tokens.release();
    return out;
  }

  /** h + gate · attn(LN(h)(1 + scale) + shift) with attention over each frame's S tokens. */
  #spatialAttention(
    pass: STDiT2Pass,
    layer: number,
    h: Tensor,
    w: STDiT2BlockWeights,
    modulation: Tensor,
    attention?: AttentionRuntime,
  ): Tensor {
    const [batch, , channels] = h.shape;
    const { frames, tokensPerFrame } = pass.grid;
    const normed = layerNormModulate(h, NORM_EPS, modulation, 0, 1);
    const perFrame = normed.reshape([batch * frames, tokensPerFrame, channels]);
    normed.release();
    const attended = selfAttention(
      perFrame,
      { qkv: w.attn.qkv, out: w.attn.proj },
      this.heads,
      layer,
      attention,
      (qkv) => this.#normalizeQk(qkv, w.attn),
    );
    perFrame.release();
    return this.#gatedResidual(h, attended, modulation);
  }

  /** h + gate · attn_temp(…) over each token position's T frames, with RoPE on q and k. */
  #temporalAttention(
    pass: STDiT2Pass,
    h: Tensor,
    w: STDiT2BlockWeights,
    modulation: Tensor,
  ): Tensor {
    const [batch, , channels] = h.shape;
    const { frames, tokensPerFrame } = pass.grid;
    const normed = layerNormModulate(h, NORM_EPS, modulation, 0, 1);
    const frameMajor = normed.reshape([batch, frames, tokensPerFrame, channels]);
    normed.release();
    const positionMajor = swapMiddleAxes(frameMajor); // [B, S, T, C]
    frameMajor.release();
    const sequences = positionMajor.reshape([batch * tokensPerFrame, frames, channels]);
    positionMajor.release();
    const rope = this.#ropeTables(frames);
    // Whole sequences per chunk, so the packed q/k/v fits one storage binding.
    const perChunk = rowsPerBinding(sequences, frames * 3 * channels * 4);
    const projected = mapRowChunks(sequences, perChunk, (rows) => {
      const qkv = applyLinear(rows, w.attnTemporal.qkv);
      this.#normalizeQk(qkv, w.attnTemporal, rope);
      const attended = fullAttention(qkv, this.heads);
      qkv.release();
      const out = applyLinear(attended, w.attnTemporal.proj);
      attended.release();
      return out;
    });
    sequences.release();
    const grouped = projected.reshape([batch, tokensPerFrame, frames, channels]);
    projected.release();
    const back = swapMiddleAxes(grouped); // [B, T, S, C]
    grouped.release();
    return this.#gatedResidual(h, back, modulation);
  }

  /** h + gate · attended, with `attended` (consumed) read back as h's [B, T·S, C]. */
  #gatedResidual(h: Tensor, attended: Tensor, modulation: Tensor): Tensor {
    const flat = attended.reshape(h.shape);
    attended.release();
    const out = gatedResidualAdd(h, flat, modulation, 2);
    flat.release();
    return out;
  }

  /** q/k of a packed qkv: RoPE (temporal only), then RMSNorm when the model has qk_norm. */
  #normalizeQk(qkv: Tensor, w: STDiT2AttentionWeights, rope?: RopeTables): Tensor {
    return qkNormInPlace(qkv, this.heads, {
      qWeight: w.qNorm ?? undefined,
      kWeight: w.kNorm ?? undefined,
      eps: QK_NORM_EPS,
      rope,
    });
  }

  /** MLP(sinusoid(values)) for one scalar per row: [values.length, width]. */
  #embed(weights: ScalarEmbedderWeights, values: readonly number[]): Tensor {
    return scalarEmbedding(this.gpu, values, SINUSOID_CHANNELS, weights);
  }

  /** t_block(SiLU(t + extra)): the adaLN rows every block adds its table to. */
  #modulation(t: Tensor, extra: Tensor, linear: STDiT2Weights["spatialModulation"]): Tensor {
    const sum = add(t, extra);
    const activated = silu(sum);
    sum.release();
    const out = applyLinear(activated, linear);
    activated.release();
    return out;
  }

  #positionEmbedding(grid: VideoGrid, pixelHeight: number, pixelWidth: number): Tensor {
    const stretch = positionScale(
      pixelHeight,
      pixelWidth,
      this.config.inputSqSize,
      grid.tokensPerFrame,
    );
    const key = `${grid.rows}x${grid.columns}@${stretch.scale},${stretch.baseSize}`;
    let table = this.#positions.get(key);
    if (!table) {
      const values = stdit2PositionEmbedding(this.width, grid.rows, grid.columns, stretch);
      table = Tensor.fromArray(
        this.gpu,
        values,
        [grid.tokensPerFrame, this.width],
        "f32",
        "pos_embed",
      );
      this.#positions.set(key, table);
    }
    return table;
  }

  #ropeTables(frames: number): RopeTables {
    let tables = this.#rope.get(frames);
    if (!tables) {
      tables = ropeTables(this.gpu, this.weights.ropeFrequencies, frames);
      this.#rope.set(frames, tables);
    }
    return tables;
  }

  /** Frees the weights and cached tables. */
  release(): void {
    // The CPU-side arrays need no release; keep releaseWeights to the tensors.
    releaseWeights({ ...this.weights, nullCaption: null, ropeFrequencies: null });
    for (const t of this.#positions.values()) t.release();
    for (const t of this.#rope.values()) t.release();
    this.#positions.clear();
    this.#rope.clear();
  }
}
