/**
 * T5 v1.1 encoder configuration from a transformers `config.json` (`T5Config`, as read by
 * `T5EncoderModel`). Only the gated-GELU feed-forward of T5 v1.1 / Flan-T5 / mT5 is supported;
 * anything else is refused with a CheckpointError naming the field, what was expected and what
 * the file holds.
 */

import { CheckpointError } from "../../src/errors.ts";
import {
  type JsonConfig,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalString,
  requireInteger,
} from "../../src/io/config.ts";
import { checkFieldRanges, CONFIG_BOUNDS as B } from "../../src/io/config.ts";

export interface T5Config {
  /** Width of the residual stream (`d_model`). */
  dModel: number;
  /** Width of one attention head (`d_kv`); heads · d_kv need not equal d_model. */
  dKv: number;
  numHeads: number;
  /** Width of the gated feed-forward's hidden layer (`d_ff`). */
  dFf: number;
  /** Encoder blocks (`num_layers`). */
  numLayers: number;
  vocabSize: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  /** Epsilon of every RMS norm (`layer_norm_epsilon`). */
  layerNormEpsilon: number;
}

/** Activations transformers computes as the tanh approximation of GELU. */
const TANH_GELU_NAMES = ["gelu_new", "gelu_pytorch_tanh"];

/** Model types with T5's encoder (UMT5 has a position bias per layer, and is not one). */
const MODEL_TYPES = ["t5", "mt5"];

function positive(key: string, file: string, value: number): number {
  if (value < 1) {
    throw new CheckpointError(`${file}: "${key}" must be a positive integer, got ${value}`);
  }
  return value;
}

function requirePositive(raw: JsonConfig, key: string, file: string): number {
  return positive(key, file, requireInteger(raw, key, file));
}

function optionalPositive(raw: JsonConfig, key: string, file: string, fallback: number): number {
  return positive(key, file, optionalInteger(raw, key, file) ?? fallback);
}

/**
 * Parses a T5 config. The sizes (d_model, d_kv, num_heads, d_ff, num_layers, vocab_size) and
 * feed_forward_proj are required: their T5Config defaults describe t5-small with a ReLU
 * feed-forward, which a gated-GELU checkpoint never relies on. The bucket count (32), the
 * bucket distance (128) and layer_norm_epsilon (1e-6) take T5Config's defaults.
 */
export function parseT5Config(json: unknown, file = "config.json"): T5Config {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(`${file}: a T5 config must be a JSON object`);
  }
  const raw = json as JsonConfig;
  const modelType = optionalString(raw, "model_type", file);
  if (modelType !== undefined && !MODEL_TYPES.includes(modelType)) {
    throw new CheckpointError(
      `${file}: "model_type" is ${JSON.stringify(modelType)}; expected one of ` +
        `${MODEL_TYPES.map((t) => JSON.stringify(t)).join(", ")}`,
    );
  }
  const projection = optionalString(raw, "feed_forward_proj", file);
  if (projection !== "gated-gelu") {
    throw new CheckpointError(
      `${file}: "feed_forward_proj" is ${
        projection === undefined ? 'missing (T5Config\'s default is "relu")' : JSON.stringify(
          projection,
        )
      }; only "gated-gelu" (T5 v1.1) is supported`,
    );
  }
  // T5Config derives dense_act_fn from feed_forward_proj, but a value in the file overrides it.
  const activation = optionalString(raw, "dense_act_fn", file) ?? "gelu_new";
  if (!TANH_GELU_NAMES.includes(activation)) {
    throw new CheckpointError(
      `${file}: "dense_act_fn" is ${JSON.stringify(activation)}; expected "gelu_new" (or ` +
        `"gelu_pytorch_tanh", the same function) with feed_forward_proj "gated-gelu"`,
    );
  }
  const gated = optionalBoolean(raw, "is_gated_act", file);
  if (gated === false) {
    throw new CheckpointError(
      `${file}: "is_gated_act" is false; expected true with feed_forward_proj "gated-gelu"`,
    );
  }
  const config: T5Config = {
    dModel: requirePositive(raw, "d_model", file),
    dKv: requirePositive(raw, "d_kv", file),
    numHeads: requirePositive(raw, "num_heads", file),
    dFf: requirePositive(raw, "d_ff", file),
    numLayers: requirePositive(raw, "num_layers", file),
    vocabSize: requirePositive(raw, "vocab_size", file),
    relativeAttentionNumBuckets: optionalPositive(raw, "relative_attention_num_buckets", file, 32),
    relativeAttentionMaxDistance: optionalPositive(
      raw,
      "relative_attention_max_distance",
      file,
      128,
    ),
    layerNormEpsilon: optionalNumber(raw, "layer_norm_epsilon", file) ?? 1e-6,
  };
  checkFieldRanges(file, [
    { key: "d_model", value: config.dModel, min: 1, max: B.channels },
    { key: "d_kv", value: config.dKv, min: 1, max: B.channels },
    { key: "num_heads", value: config.numHeads, min: 1, max: B.heads },
    { key: "d_ff", value: config.dFf, min: 1, max: 4 * B.channels },
    { key: "num_layers", value: config.numLayers, min: 1, max: B.layers },
    { key: "vocab_size", value: config.vocabSize, min: 1, max: 1 << 22 },
    {
      key: "relative_attention_num_buckets",
      value: config.relativeAttentionNumBuckets,
      min: 1,
      max: B.tokens,
    },
    {
      key: "relative_attention_max_distance",
      value: config.relativeAttentionMaxDistance,
      min: 1,
      max: B.tokens,
    },
  ]);
  if (!(config.layerNormEpsilon > 0)) {
    throw new CheckpointError(
      `${file}: "layer_norm_epsilon" must be a positive number, got ${config.layerNormEpsilon}`,
    );
  }
  checkFieldRanges(file, [
    { key: "layer_norm_epsilon", value: config.layerNormEpsilon, min: 0, max: 1, aboveMin: true },
  ]);
  // Bidirectional buckets: half per direction, half of those exact. Both halvings must leave at
  // least one bucket, and the log-spaced range must be non-empty (log(max_distance / max_exact)
  // is a divisor).
  const buckets = config.relativeAttentionNumBuckets;
  if (buckets < 4) {
    throw new CheckpointError(
      `${file}: "relative_attention_num_buckets" must be at least 4 (half per direction, half ` +
        `of those exact), got ${buckets}`,
    );
  }
  const maxExact = Math.floor(Math.floor(buckets / 2) / 2);
  if (config.relativeAttentionMaxDistance <= maxExact) {
    throw new CheckpointError(
      `${file}: "relative_attention_max_distance" must be larger than the ${maxExact} exact ` +
        `buckets per direction, got ${config.relativeAttentionMaxDistance}`,
    );
  }
  return config;
}

/** Width of the attention's q, k and v (heads · d_kv). */
export function t5InnerDim(config: T5Config): number {
  return config.numHeads * config.dKv;
}
