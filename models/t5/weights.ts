/**
 * T5 encoder weights (transformers `T5EncoderModel` layout): names, expected shapes, checks and
 * upload. T5's linears have no biases. q, k and v are stacked into one [3·H·d_kv, d_model]
 * projection; the embedding table is uploaded in row chunks that each fit one storage binding
 * (T5-XXL's 32128×4096 table is 263 MB in f16, more than lavapipe's 128 MiB binding).
 */

import { CheckpointError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import { uploadTableChunks } from "../../src/ops/embedding.ts";
import { keepWeightInTexture } from "../../src/ops/linear.ts";
import { Tensor } from "../../src/tensor.ts";
import {
  checkBlockCount,
  checkWeightBindings,
  checkWeights,
  finiteWeights,
  type GpuWeight,
} from "../../src/nn/weight_check.ts";
import { type T5Config, t5InnerDim } from "./config.ts";

/** The names the embedding table goes by: the encoder's own, or the shared one it is tied to. */
export const T5_EMBEDDING_NAMES = ["encoder.embed_tokens.weight", "shared.weight"] as const;

/** Block 0's relative position bias table [buckets, H] (the only one in a T5 encoder). */
export const T5_POSITION_BIAS_NAME =
  "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

/** What `dtype` applies to: the linear weights and the embedding table. */
export type T5WeightDtype = "f32" | "f16";

export interface T5BlockWeights {
  /** layer.0.layer_norm.weight [d_model]. */
  attentionNorm: Tensor;
  /** q, k, v stacked: [3·H·d_kv, d_model]. */
  qkv: Tensor;
  /** o: [d_model, H·d_kv]. */
  out: Tensor;
  /** layer.1.layer_norm.weight [d_model]. */
  feedForwardNorm: Tensor;
  /** DenseReluDense.wi_0 (the GELU gate) and wi_1: [d_ff, d_model]; wo: [d_model, d_ff]. */
  wi0: Tensor;
  wi1: Tensor;
  wo: Tensor;
}

export interface T5Weights {
  /** The embedding table [vocab, d_model] as consecutive row chunks. */
  embedding: Tensor[];
  /** Relative position bias table [buckets, H], kept on the CPU (gathered per length). */
  positionBiasTable: Float32Array;
  blocks: T5BlockWeights[];
  finalNorm: Tensor;
}

function blockPrefix(l: number): string {
  return `encoder.block.${l}.layer`;
}

/** The checkpoint tensor the embedding is read from: the encoder's own name when present. */
export function t5EmbeddingName(source: TensorSource): string | undefined {
  return T5_EMBEDDING_NAMES.find((name) => source.has(name));
}

/**
 * Every tensor a T5 encoder checkpoint holds, with its shape. Both embedding names are expected
 * when both are present (they are tied); with neither, `shared.weight` is reported missing.
 */
export function expectedT5Shapes(config: T5Config, source: TensorSource): Map<string, number[]> {
  const { dModel, dFf, numHeads } = config;
  const inner = t5InnerDim(config);
  const shapes = new Map<string, number[]>();
  const embeddings = T5_EMBEDDING_NAMES.filter((name) => source.has(name));
  for (const name of embeddings.length > 0 ? embeddings : ["shared.weight"]) {
    shapes.set(name, [config.vocabSize, dModel]);
  }
  shapes.set(T5_POSITION_BIAS_NAME, [config.relativeAttentionNumBuckets, numHeads]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = blockPrefix(l);
    for (const proj of ["q", "k", "v"]) {
      shapes.set(`${p}.0.SelfAttention.${proj}.weight`, [inner, dModel]);
    }
    shapes.set(`${p}.0.SelfAttention.o.weight`, [dModel, inner]);
    shapes.set(`${p}.0.layer_norm.weight`, [dModel]);
    shapes.set(`${p}.1.DenseReluDense.wi_0.weight`, [dFf, dModel]);
    shapes.set(`${p}.1.DenseReluDense.wi_1.weight`, [dFf, dModel]);
    shapes.set(`${p}.1.DenseReluDense.wo.weight`, [dModel, dFf]);
    shapes.set(`${p}.1.layer_norm.weight`, [dModel]);
  }
  shapes.set("encoder.final_layer_norm.weight", [dModel]);
  return shapes;
}

/**
 * The decoder and LM head of a full T5ForConditionalGeneration checkpoint: present in the
 * file, ignored by the encoder (transformers' T5EncoderModel skips them too).
 */
const IGNORED = /^(decoder\.|lm_head\.weight$)/;

/** The weights that live in storage buffers (the embedding is chunked, so it is not among them). */
export function t5GpuWeights(config: T5Config, dtype: T5WeightDtype): Map<string, GpuWeight> {
  const { dModel, dFf } = config;
  const inner = t5InnerDim(config);
  const weights = new Map<string, GpuWeight>();
  for (let l = 0; l < config.numLayers; l++) {
    const p = blockPrefix(l);
    weights.set(`${p}.0.SelfAttention.qkv.weight`, { shape: [3 * inner, dModel], dtype });
    weights.set(`${p}.0.SelfAttention.o.weight`, { shape: [dModel, inner], dtype });
    weights.set(`${p}.1.DenseReluDense.wi_0.weight`, { shape: [dFf, dModel], dtype });
    weights.set(`${p}.1.DenseReluDense.wi_1.weight`, { shape: [dFf, dModel], dtype });
    weights.set(`${p}.1.DenseReluDense.wo.weight`, { shape: [dModel, dFf], dtype });
  }
  return weights;
}

/**
 * Checks every name, shape and dtype (one CheckpointError listing all missing, unexpected,
 * mis-shaped or non-float tensors) and that each weight fits one storage binding, before
 * anything is uploaded.
 */
export function checkT5Weights(
  gpu: Gpu,
  source: TensorSource,
  config: T5Config,
  dtype: T5WeightDtype,
): void {
  checkBlockCount(source, "encoder.block", config.numLayers, "num_layers");
  const expected = expectedT5Shapes(config, source);
  for (const name of source.names()) {
    if (IGNORED.test(name)) expected.set(name, source.info(name).shape);
  }
  try {
    checkWeights(source, expected, "T5 encoder");
  } catch (e) {
    if (!(e instanceof CheckpointError) || t5EmbeddingName(source) !== undefined) throw e;
    throw new CheckpointError(
      `${e.message}\n  (the embedding table may also be named encoder.embed_tokens.weight)`,
    );
  }
  checkWeightBindings(
    source.path,
    t5GpuWeights(config, dtype),
    gpu.limits.maxStorageBufferBindingSize,
    "T5 encoder",
  );
}

async function loadMatrix(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: T5WeightDtype,
): Promise<Tensor> {
  return Tensor.fromArray(
    gpu,
    await source.readFloat32(name),
    source.info(name).shape,
    dtype,
    name,
  );
}

async function loadStacked(
  gpu: Gpu,
  source: TensorSource,
  names: readonly string[],
  dtype: T5WeightDtype,
  label: string,
): Promise<Tensor> {
  const [rows, cols] = source.info(names[0]).shape;
  const stacked = new Float32Array(names.length * rows * cols);
  for (const [i, name] of names.entries()) {
    stacked.set(await source.readFloat32(name), i * rows * cols);
  }
  return Tensor.fromArray(gpu, stacked, [names.length * rows, cols], dtype, label);
}

export interface T5LoadWeightOptions {
  dtype: T5WeightDtype;
  /** Free each linear weight's buffer once packed into the linear kernel's texture (CPU adapters). */
  freePackedWeights?: boolean;
  /** Rows per embedding chunk (default: what fits one storage binding; tests force small ones). */
  embeddingRowsPerChunk?: number;
}

/** The matrices `dtype` and `freePackedWeights` apply to. */
export function t5BlockMatrices(block: T5BlockWeights): Tensor[] {
  return [block.qkv, block.out, block.wi0, block.wi1, block.wo];
}

/**
 * Validates (see `checkT5Weights`), then uploads: norms f32, linears and the embedding table in
 * `dtype` (F32, F16 and BF16 files all load; f16 rounds to nearest even), the position bias
 * table to host memory.
 */
export async function loadT5Weights(
  gpu: Gpu,
  source: TensorSource,
  config: T5Config,
  options: T5LoadWeightOptions,
): Promise<T5Weights> {
  const { dtype } = options;
  checkT5Weights(gpu, source, config, dtype);
  source = finiteWeights(source);
  const loaded: Tensor[] = [];
  const keep = <T extends Tensor | Tensor[]>(t: T): T => {
    loaded.push(...(Array.isArray(t) ? t : [t]));
    return t;
  };
  try {
    const embeddingName = t5EmbeddingName(source)!;
    const embedding = keep(uploadTableChunks(
      gpu,
      await source.readFloat32(embeddingName),
      [config.vocabSize, config.dModel],
      dtype,
      embeddingName,
      options.embeddingRowsPerChunk,
    ));
    const positionBiasTable = await source.readFloat32(T5_POSITION_BIAS_NAME);
    const blocks: T5BlockWeights[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      const p = blockPrefix(l);
      const attention = `${p}.0.SelfAttention`;
      const ff = `${p}.1.DenseReluDense`;
      const block: T5BlockWeights = {
        attentionNorm: keep(await loadMatrix(gpu, source, `${p}.0.layer_norm.weight`, "f32")),
        qkv: keep(
          await loadStacked(
            gpu,
            source,
            ["q", "k", "v"].map((x) => `${attention}.${x}.weight`),
            dtype,
            `${attention}.qkv.weight`,
          ),
        ),
        out: keep(await loadMatrix(gpu, source, `${attention}.o.weight`, dtype)),
        feedForwardNorm: keep(await loadMatrix(gpu, source, `${p}.1.layer_norm.weight`, "f32")),
        wi0: keep(await loadMatrix(gpu, source, `${ff}.wi_0.weight`, dtype)),
        wi1: keep(await loadMatrix(gpu, source, `${ff}.wi_1.weight`, dtype)),
        wo: keep(await loadMatrix(gpu, source, `${ff}.wo.weight`, dtype)),
      };
      if (options.freePackedWeights) {
        for (const matrix of t5BlockMatrices(block)) keepWeightInTexture(matrix);
      }
      blocks.push(block);
      // Submit the block's uploads and packs and wait for them, so the upload staging copies
      // and the buffers given up for textures are freed now: left until the end of loading,
      // they would add up to twice T5-XXL's 9.5 GB of f16 weights.
      gpu.flush();
      await gpu.device.queue.onSubmittedWorkDone();
    }
    const finalNorm = keep(
      await loadMatrix(gpu, source, "encoder.final_layer_norm.weight", "f32"),
    );
    return { embedding, positionBiasTable, blocks, finalNorm };
  } catch (e) {
    for (const t of loaded) t.release();
    throw e;
  }
}

/** Releases every GPU tensor of `weights`. */
export function releaseT5Weights(weights: T5Weights): void {
  for (const chunk of weights.embedding) chunk.release();
  for (const block of weights.blocks) {
    for (const t of [block.attentionNorm, block.feedForwardNorm, ...t5BlockMatrices(block)]) {
      t.release();
    }
  }
  weights.finalNorm.release();
}
