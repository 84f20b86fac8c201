/** PixArt-α/Σ transformer configuration from a diffusers `config.json` (PixArtTransformer2DModel). */

import { CheckpointError } from "../../src/errors.ts";
import {
  type JsonConfig,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalString,
} from "../../src/io/config.ts";
import { checkFieldRanges, CONFIG_BOUNDS as B } from "../../src/io/config.ts";
import type { PatchTransformerConfig } from "../../src/nn/patch_transformer.ts";

/** The trained latent side (`sampleSize`) is 128 for the 1024 px models. */
export interface PixArtConfig extends PatchTransformerConfig {
  /** Width of the text-encoder embeddings (4096 for T5-XXL). */
  captionChannels: number;
  /** Epsilon of the blocks' LayerNorms (the final one always uses 1e-6). */
  normEps: number;
  /** Divisor of the position-embedding coordinates (diffusers: config value or sample_size/64). */
  interpolationScale: number;
  /** Resolution and aspect-ratio embeddings in the adaLN-single input (PixArt-α 1024 px). */
  useAdditionalConditions: boolean;
}

/** Width of the transformer (heads · head dim). */
export function pixartWidth(config: PixArtConfig): number {
  return config.numHeads * config.headDim;
}

/** Grid size the position embedding is defined for: sample_size / patch_size (diffusers' base_size). */
export function pixartBaseSize(config: PixArtConfig): number {
  return Math.floor(config.sampleSize / config.patchSize);
}

const CLASS_NAMES = ["PixArtTransformer2DModel", "Transformer2DModel"];

function positiveInteger(raw: JsonConfig, key: string, file: string, fallback: number): number {
  const value = optionalInteger(raw, key, file) ?? fallback;
  if (value < 1) {
    throw new CheckpointError(`${file}: "${key}" must be a positive integer, got ${value}`);
  }
  return value;
}

/** Fields whose only supported value is the PixArt one (anything else is another architecture). */
function requireValue(raw: JsonConfig, key: string, expected: unknown, file: string): void {
  const value = raw[key] ?? expected;
  if (value !== expected) {
    throw new CheckpointError(
      `${file}: "${key}" is ${JSON.stringify(value)}; PixArt needs ${JSON.stringify(expected)}`,
    );
  }
}

/**
 * Parses a PixArt config: `PixArtTransformer2DModel`, or the `Transformer2DModel` form with
 * `norm_type: "ada_norm_single"` that the first PixArt-α releases ship. Absent keys take
 * diffusers' defaults.
 */
export function parsePixArtConfig(raw: JsonConfig, file: string): PixArtConfig {
  const className = optionalString(raw, "_class_name", file);
  if (className !== undefined && !CLASS_NAMES.includes(className)) {
    throw new CheckpointError(
      `${file}: "_class_name" is ${className}, not a PixArt transformer (${
        CLASS_NAMES.join(" or ")
      })`,
    );
  }
  requireValue(raw, "norm_type", "ada_norm_single", file);
  requireValue(raw, "activation_fn", "gelu-approximate", file);
  requireValue(raw, "norm_elementwise_affine", false, file);
  requireValue(raw, "attention_bias", true, file);
  requireValue(raw, "attention_type", "default", file);
  const sampleSize = positiveInteger(raw, "sample_size", file, 128);
  const patchSize = positiveInteger(raw, "patch_size", file, 2);
  const inChannels = positiveInteger(raw, "in_channels", file, 4);
  const numHeads = positiveInteger(raw, "num_attention_heads", file, 16);
  const headDim = positiveInteger(raw, "attention_head_dim", file, 72);
  const captionChannels = optionalInteger(raw, "caption_channels", file);
  if (captionChannels === undefined || captionChannels < 1) {
    throw new CheckpointError(
      `${file}: "caption_channels" must be a positive integer (got ${captionChannels}); ` +
        `PixArt without a caption projection is not supported`,
    );
  }
  const interpolation = optionalNumber(raw, "interpolation_scale", file);
  const config: PixArtConfig = {
    sampleSize,
    patchSize,
    inChannels,
    outChannels: positiveInteger(raw, "out_channels", file, inChannels),
    numLayers: positiveInteger(raw, "num_layers", file, 28),
    numHeads,
    headDim,
    captionChannels,
    normEps: optionalNumber(raw, "norm_eps", file) ?? 1e-6,
    interpolationScale: interpolation ?? Math.max(Math.floor(sampleSize / 64), 1),
    // diffusers turns the size conditioning on by default exactly for the 1024 px (128-latent) models.
    useAdditionalConditions: optionalBoolean(raw, "use_additional_conditions", file) ??
      sampleSize === 128,
  };
  checkFieldRanges(file, [
    { key: "sample_size", value: sampleSize, min: 1, max: B.sampleSize, integer: true },
    { key: "patch_size", value: patchSize, min: 1, max: B.patch, integer: true },
    { key: "in_channels", value: inChannels, min: 1, max: B.channels, integer: true },
    { key: "num_layers", value: config.numLayers, min: 1, max: B.layers, integer: true },
    { key: "num_attention_heads", value: numHeads, min: 1, max: B.heads, integer: true },
    { key: "attention_head_dim", value: headDim, min: 1, max: B.channels, integer: true },
    { key: "caption_channels", value: captionChannels, min: 1, max: B.channels, integer: true },
    { key: "norm_eps", value: config.normEps, min: 0, max: 1, aboveMin: true },
    {
      key: "interpolation_scale",
      value: config.interpolationScale,
      min: 0,
      max: 1e3,
      aboveMin: true,
    },
  ]);
  const width = pixartWidth(config);
  const crossDim = optionalInteger(raw, "cross_attention_dim", file) ?? width;
  if (crossDim !== width) {
    // The caption projection outputs the model width, so attn2's k/v must take that width.
    throw new CheckpointError(
      `${file}: "cross_attention_dim" ${crossDim} must equal the model width ` +
        `num_attention_heads·attention_head_dim = ${width}`,
    );
  }
  if (!(config.normEps > 0) || !(config.interpolationScale > 0)) {
    throw new CheckpointError(
      `${file}: "norm_eps" (${config.normEps}) and "interpolation_scale" ` +
        `(${config.interpolationScale}) must be positive`,
    );
  }
  if (sampleSize % patchSize !== 0) {
    throw new CheckpointError(
      `${file}: sample_size ${sampleSize} is not divisible by patch_size ${patchSize}`,
    );
  }
  if (width % 4 !== 0) {
    throw new CheckpointError(
      `${file}: model width ${width} must be a multiple of 4 for the 2D sincos position embedding`,
    );
  }
  if (config.useAdditionalConditions && width % 3 !== 0) {
    throw new CheckpointError(
      `${file}: size conditioning splits the width ${width} into thirds; it is not divisible by 3`,
    );
  }
  if (config.outChannels !== inChannels && config.outChannels !== 2 * inChannels) {
    throw new CheckpointError(
      `${file}: out_channels ${config.outChannels} must be in_channels (${inChannels}) or twice it (learned sigma)`,
    );
  }
  return config;
}
