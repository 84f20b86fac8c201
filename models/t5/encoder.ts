/**
 * The T5 v1.1 encoder (transformers `T5EncoderModel`) on the GPU:
 *
 *   h = embed(ids)
 *   per block: h += o(attention(rmsNorm(h)))   softmax(q·kᵀ + position bias + mask), no 1/√d
 *              h += wo(gelu_new(wi_0(x)) · wi_1(x)) with x = rmsNorm(h)
 *   last_hidden_state = rmsNorm(h)
 *
 * The relative position bias of block 0 is computed once per sequence length and added by
 * every block; padded keys (attention mask 0) get a bias of −1e30, so they get no weight, and
 * padded query rows are computed like the others, as in transformers. Dropout is inactive
 * (inference). A pass is recorded into one command stream; nothing is read back.
 */

import { OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import { loadFromFolder } from "../../src/io/model_folder.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import { biasedAttention } from "../../src/ops/attention.ts";
import { add, geluTanhMul } from "../../src/ops/elementwise.ts";
import { embeddingGather } from "../../src/ops/embedding.ts";
import { linear } from "../../src/ops/linear.ts";
import { rmsNorm } from "../../src/ops/norm.ts";
import { Tensor } from "../../src/tensor.ts";
import { mapRowChunks, rowsPerBinding } from "../../src/nn/row_chunks.ts";
import { parseT5Config, type T5Config, t5InnerDim } from "./config.ts";
import { uploadPositionBias } from "./position_bias.ts";
import {
  loadT5Weights,
  releaseT5Weights,
  type T5BlockWeights,
  type T5WeightDtype,
  type T5Weights,
} from "./weights.ts";

export interface T5EncoderLoadOptions {
  /** Storage of the linear weights and the embedding table: "f32" (default) or "f16". */
  dtype?: T5WeightDtype;
  /**
   * Free each linear weight's buffer once the linear kernel has packed it into a texture (CPU
   * adapters only; elsewhere the buffers stay). Default false.
   */
  freePackedWeights?: boolean;
  /** Rows per embedding-table chunk (default: as many as one storage binding holds). */
  embeddingRowsPerChunk?: number;
  /** Name of the config in error messages (default "config.json"). */
  configName?: string;
}

export interface T5EncodeOptions {
  /** Also return the residual stream entering each block and leaving the last one. */
  hiddenStates?: boolean;
}

export interface T5EncoderOutput {
  /** [B, N, d_model]: the final RMS norm of the residual stream. */
  lastHiddenState: Tensor;
  /**
   * With `hiddenStates`: num_layers + 1 tensors [B, N, d_model]: index 0 the embeddings, index
   * n the stream after block n − 1 (the last without the final norm). Release each.
   */
  hiddenStates?: Tensor[];
}

function checkDtype(dtype: unknown): T5WeightDtype {
  if (dtype === undefined) return "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new OptionError(`T5Encoder: dtype must be "f32" or "f16", got ${JSON.stringify(dtype)}`);
  }
  return dtype;
}

export class T5Encoder {
  #positionBias = new Map<number, Tensor>();
  #released = false;

  private constructor(
    readonly gpu: Gpu,
    readonly config: T5Config,
    readonly weights: T5Weights,
    /** Where the weights came from (for messages). */
    readonly source: string,
  ) {}

  /**
   * Builds an encoder from a transformers T5 `config.json` (parsed JSON) and the checkpoint's
   * tensors. The config is validated first, then every tensor name, shape and dtype, then the
   * binding limits; only then is anything uploaded.
   */
  static async fromSource(
    gpu: Gpu,
    configJson: unknown,
    source: TensorSource,
    options: T5EncoderLoadOptions = {},
  ): Promise<T5Encoder> {
    const dtype = checkDtype(options.dtype);
    const config = parseT5Config(configJson, options.configName);
    const weights = await loadT5Weights(gpu, source, config, {
      dtype,
      freePackedWeights: options.freePackedWeights,
      embeddingRowsPerChunk: options.embeddingRowsPerChunk,
    });
    return new T5Encoder(gpu, config, weights, source.path);
  }

  /**
   * Loads a transformers `T5EncoderModel` folder: `config.json` and the weights (one
   * safetensors file or shards with a `*.safetensors.index.json`; F32, F16 or BF16 on disk).
   */
  static load(gpu: Gpu, folder: Folder, options: T5EncoderLoadOptions = {}): Promise<T5Encoder> {
    return loadFromFolder(
      folder,
      "T5 encoder",
      (raw) => raw,
      (raw, source) =>
        T5Encoder.fromSource(gpu, raw, source, {
          ...options,
          configName: options.configName ?? folder.pathOf("config.json"),
        }),
    );
  }

  #checkAlive(): void {
    if (this.#released) throw new OptionError("T5Encoder: used after release()");
  }

  /**
   * The relative position bias [H, N, N] of a length-N sequence (computed once per length and
   * kept; the encoder owns it, do not release it).
   */
  positionBias(length: number): Tensor {
    this.#checkAlive();
    let bias = this.#positionBias.get(length);
    if (!bias) {
      const c = this.config;
      bias = uploadPositionBias(
        this.gpu,
        this.weights.positionBiasTable,
        c.numHeads,
        c.relativeAttentionNumBuckets,
        c.relativeAttentionMaxDistance,
        length,
      );
      this.#positionBias.set(length, bias);
    }
    return bias;
  }

  /** Throws an OptionError for inputs transformers would reject or misread, before GPU work. */
  #validate(
    inputIds: Int32Array,
    attentionMask: Int32Array | null,
    batch: number,
    length: number,
  ): void {
    for (const [name, value] of [["batch", batch], ["length", length]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new OptionError(`T5Encoder.encode: ${name} must be a positive integer, got ${value}`);
      }
    }
    const count = batch * length;
    if (!(inputIds instanceof Int32Array) || inputIds.length !== count) {
      throw new OptionError(
        `T5Encoder.encode: inputIds must be an Int32Array of batch·length = ${count} ids, got ` +
          `${inputIds?.constructor?.name} of ${inputIds?.length}`,
      );
    }
    const vocab = this.config.vocabSize;
    const bad = inputIds.findIndex((id) => id < 0 || id >= vocab);
    if (bad >= 0) {
      throw new OptionError(
        `T5Encoder.encode: input id ${inputIds[bad]} at [${Math.floor(bad / length)}, ` +
          `${bad % length}] is outside the vocabulary [0, ${vocab})`,
      );
    }
    if (attentionMask === null) return;
    if (!(attentionMask instanceof Int32Array) || attentionMask.length !== count) {
      throw new OptionError(
        `T5Encoder.encode: attentionMask must be an Int32Array of batch·length = ${count} ` +
          `values, got ${attentionMask?.constructor?.name} of ${attentionMask?.length}`,
      );
    }
    const notBinary = attentionMask.findIndex((m) => m !== 0 && m !== 1);
    if (notBinary >= 0) {
      throw new OptionError(
        `T5Encoder.encode: attentionMask value ${attentionMask[notBinary]} at ` +
          `[${Math.floor(notBinary / length)}, ${notBinary % length}] is not 0 or 1`,
      );
    }
  }

  /**
   * Encodes `batch` sequences of `length` ids (row-major [B, N]). `attentionMask` [B, N] holds
   * 1 for tokens and 0 for padding; null attends to every key (transformers' mask None).
   */
  encode(
    inputIds: Int32Array,
    attentionMask: Int32Array | null,
    batch: number,
    length: number,
    options: T5EncodeOptions = {},
  ): T5EncoderOutput {
    this.#checkAlive();
    this.#validate(inputIds, attentionMask, batch, length);
    const { gpu, config, weights } = this;
    const keepStates = options.hiddenStates === true;
    const ids = Tensor.fromArray(gpu, inputIds, [batch * length], "i32", "t5-input-ids");
    const embedded = embeddingGather(weights.embedding, ids);
    ids.release();
    let hidden = embedded.reshape([batch, length, config.dModel]);
    embedded.release();
    const mask = attentionMask
      ? Tensor.fromArray(gpu, Float32Array.from(attentionMask), [batch, length], "f32", "t5-mask")
      : undefined;
    const bias = this.positionBias(length);
    const states: Tensor[] = [];
    for (const block of weights.blocks) {
      if (keepStates) states.push(hidden);
      const next = this.#block(hidden, block, bias, mask);
      if (!keepStates) hidden.release();
      hidden = next;
    }
    mask?.release();
    const lastHiddenState = rmsNorm(hidden, weights.finalNorm, config.layerNormEpsilon);
    if (keepStates) return { lastHiddenState, hiddenStates: [...states, hidden] };
    hidden.release();
    return { lastHiddenState };
  }

  /** One encoder block: the attention sublayer, then the gated-GELU feed-forward. */
  #block(hidden: Tensor, block: T5BlockWeights, bias: Tensor, mask: Tensor | undefined): Tensor {
    const eps = this.config.layerNormEpsilon;
    const normed = rmsNorm(hidden, block.attentionNorm, eps);
    const attended = this.#attention(normed, block, bias, mask);
    normed.release();
    const afterAttention = add(hidden, attended);
    attended.release();
    const normed2 = rmsNorm(afterAttention, block.feedForwardNorm, eps);
    const fed = this.#feedForward(normed2, block);
    normed2.release();
    const out = add(afterAttention, fed);
    afterAttention.release();
    fed.release();
    return out;
  }

  /**
   * o(attention(qkv(x))) for x [B, N, d_model], over chunks of whole sequences when the packed
   * q/k/v of the batch would exceed one storage binding.
   */
  #attention(x: Tensor, block: T5BlockWeights, bias: Tensor, mask: Tensor | undefined): Tensor {
    const [batch, tokens, channels] = x.shape;
    const heads = this.config.numHeads;
    const run = (rows: Tensor, rowMask: Tensor | undefined) => {
      const qkv = linear(rows, block.qkv);
      const attended = biasedAttention(qkv, heads, bias, rowMask);
      qkv.release();
      const out = linear(attended, block.out);
      attended.release();
      return out;
    };
    const perChunk = rowsPerBinding(x, tokens * 3 * t5InnerDim(this.config) * 4);
    if (batch <= perChunk) return run(x, mask);
    const out = Tensor.empty(x.gpu, [batch, tokens, channels], "f32", "t5-attention");
    const dst = out.binding();
    for (let start = 0; start < batch; start += perChunk) {
      const count = Math.min(perChunk, batch - start);
      const rows = x.rows(start, count);
      const rowMask = mask?.rows(start, count);
      const part = run(rows, rowMask);
      rows.release();
      rowMask?.release();
      x.gpu.copy(
        part.binding(),
        { ...dst, offset: dst.offset + start * tokens * channels * 4 },
        part.byteLength,
      );
      part.release();
    }
    return out;
  }

  /** wo(gelu_new(wi_0 x) · wi_1 x), over row chunks when the d_ff-wide rows would not fit. */
  #feedForward(x: Tensor, block: T5BlockWeights): Tensor {
    const channels = x.shape[x.shape.length - 1];
    const flat = x.reshape([x.size / channels, channels]);
    const perChunk = rowsPerBinding(flat, this.config.dFf * 4);
    const out = mapRowChunks(flat, perChunk, (rows) => {
      const gate = linear(rows, block.wi0);
      const up = linear(rows, block.wi1);
      const hidden = geluTanhMul(gate, up);
      gate.release();
      up.release();
      const projected = linear(hidden, block.wo);
      hidden.release();
      return projected;
    });
    flat.release();
    const shaped = out.reshape(x.shape);
    out.release();
    return shaped;
  }

  /** Frees the weights and the cached position biases; the encoder cannot be used afterwards. */
  release(): void {
    this.#checkAlive();
    this.#released = true;
    for (const bias of this.#positionBias.values()) bias.release();
    this.#positionBias.clear();
    releaseT5Weights(this.weights);
  }
}
