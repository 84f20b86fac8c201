/** DiT model configuration from a diffusers `config.json` (DiTTransformer2DModel or legacy). */

import { CheckpointError } from "../../src/errors.ts";
import { checkFieldRanges, CONFIG_BOUNDS as B } from "../../src/io/config.ts";
import type { PatchTransformerConfig } from "../../src/nn/patch_transformer.ts";

export interface DiTConfig extends PatchTransformerConfig {
  /** Number of classes; the null (unconditional) class has this index. */
  numClasses: number;
  /** Epsilon of the MLP LayerNorm (norm2); the others use 1e-6. */
  normEps: number;
}

/** Width of the transformer (heads · head dim). */
export function hiddenSize(config: DiTConfig): number {
  return config.numHeads * config.headDim;
}

/** Tokens per image at the trained size. */
export function tokenCount(config: DiTConfig, height = config.sampleSize, width = height): number {
  return (height / config.patchSize) * (width / config.patchSize);
}

function field(raw: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new CheckpointError(
      `${file}: field "${key}" must be a number, got ${JSON.stringify(raw[key])}`,
    );
  }
  return value;
}

function positiveInteger(
  raw: Record<string, unknown>,
  key: string,
  file: string,
  fallback?: number,
): number {
  const value = field(raw, key, file, fallback);
  if (!Number.isInteger(value) || value < 1) {
    throw new CheckpointError(`${file}: field "${key}" must be a positive integer, got ${value}`);
  }
  return value;
}

const DIT_CLASS_NAMES = ["DiTTransformer2DModel", "Transformer2DModel"];

/**
 * Parses a DiT config: `DiTTransformer2DModel`, or the legacy `Transformer2DModel` with
 * `norm_type: "ada_norm_zero"` and a patch size (the form DiT-XL/2-256/512 ship in).
 */
export function parseDiTConfig(raw: Record<string, unknown>, file: string): DiTConfig {
  const className = raw["_class_name"];
  if (typeof className === "string" && !DIT_CLASS_NAMES.includes(className)) {
    throw new CheckpointError(
      `${file}: "_class_name" is ${className}, not a DiT (${DIT_CLASS_NAMES.join(" or ")})`,
    );
  }
  const normType = raw["norm_type"] ?? "ada_norm_zero";
  if (normType !== "ada_norm_zero") {
    throw new CheckpointError(
      `${file}: norm_type "${normType}" is not a DiT; DiT uses "ada_norm_zero"`,
    );
  }
  if (raw["patch_size"] === undefined || raw["patch_size"] === null) {
    throw new CheckpointError(`${file}: no "patch_size": not a patch-based DiT`);
  }
  const activation = raw["activation_fn"] ?? "gelu-approximate";
  if (activation !== "gelu-approximate") {
    throw new CheckpointError(
      `${file}: activation_fn "${activation}" is not supported (DiT uses "gelu-approximate")`,
    );
  }
  if (raw["norm_elementwise_affine"] === true) {
    throw new CheckpointError(`${file}: norm_elementwise_affine true is not a DiT layout`);
  }
  const inChannels = positiveInteger(raw, "in_channels", file, 4);
  const config: DiTConfig = {
    sampleSize: positiveInteger(raw, "sample_size", file),
    patchSize: positiveInteger(raw, "patch_size", file),
    inChannels,
    outChannels: positiveInteger(raw, "out_channels", file, inChannels),
    numLayers: positiveInteger(raw, "num_layers", file, 28),
    numHeads: positiveInteger(raw, "num_attention_heads", file, 16),
    headDim: positiveInteger(raw, "attention_head_dim", file, 72),
    numClasses: positiveInteger(raw, "num_embeds_ada_norm", file, 1000),
    normEps: field(raw, "norm_eps", file, 1e-5),
  };
  checkFieldRanges(file, [
    { key: "sample_size", value: config.sampleSize, min: 1, max: B.sampleSize, integer: true },
    { key: "patch_size", value: config.patchSize, min: 1, max: B.patch, integer: true },
    { key: "in_channels", value: inChannels, min: 1, max: B.channels, integer: true },
    { key: "num_layers", value: config.numLayers, min: 1, max: B.layers, integer: true },
    { key: "num_attention_heads", value: config.numHeads, min: 1, max: B.heads, integer: true },
    { key: "attention_head_dim", value: config.headDim, min: 1, max: B.channels, integer: true },
    { key: "num_embeds_ada_norm", value: config.numClasses, min: 1, max: B.classes, integer: true },
    { key: "norm_eps", value: config.normEps, min: 0, max: 1, aboveMin: true },
  ]);
  if (config.sampleSize % config.patchSize !== 0) {
    throw new CheckpointError(
      `${file}: sample_size ${config.sampleSize} is not divisible by patch_size ${config.patchSize}`,
    );
  }
  if (config.outChannels !== inChannels && config.outChannels !== 2 * inChannels) {
    throw new CheckpointError(
      `${file}: out_channels ${config.outChannels} must be in_channels (${inChannels}) or twice it (learned sigma)`,
    );
  }
  return config;
}

/** A short stable hash of a flat config object (FNV-1a over canonical JSON), for plan files. */
export function configHash(config: object): string {
  const text = JSON.stringify(config, Object.keys(config).sort());
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
