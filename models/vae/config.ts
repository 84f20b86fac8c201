/** AutoencoderKL decoder configuration from a diffusers `config.json`. */

import { CheckpointError } from "../../src/errors.ts";
import {
  type JsonConfig,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalNumberArray,
  optionalString,
} from "../../src/io/config.ts";
import { checkFieldRanges, CONFIG_BOUNDS as B } from "../../src/io/config.ts";

export interface VaeConfig {
  latentChannels: number;
  /** Image channels (3 for RGB). */
  outChannels: number;
  /** Channels per resolution level, finest first (the decoder walks them reversed). */
  blockOutChannels: number[];
  /** The decoder's up blocks hold layersPerBlock + 1 resnets each. */
  layersPerBlock: number;
  normGroups: number;
  /** decode() divides latents by this (SD 1.x/2.x: 0.18215). */
  scalingFactor: number;
  /** …and then adds this (0 unless the config sets it, e.g. SD3/Flux VAEs). */
  shiftFactor: number;
  /** False for VAEs without post_quant_conv (config `use_post_quant_conv`). */
  usePostQuantConv: boolean;
  /** False for VAEs without the mid-block attention (config `mid_block_add_attention`). */
  midBlockAttention: boolean;
}

/** GroupNorm epsilon of every decoder norm (diffusers hard-codes 1e-6 in the VAE decoder). */
export const VAE_NORM_EPS = 1e-6;

/** Spatial upscale from latents to image: 2^(levels − 1). */
export function upscaleFactor(config: VaeConfig): number {
  return 2 ** (config.blockOutChannels.length - 1);
}

function positive(value: number, key: string, file: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new CheckpointError(`${file}: "${key}" must be a positive integer, got ${value}`);
  }
  return value;
}

/** Parses an AutoencoderKL config, with diffusers' defaults for absent keys. */
export function parseVaeConfig(raw: JsonConfig, file: string): VaeConfig {
  const className = optionalString(raw, "_class_name", file);
  if (className !== undefined && className !== "AutoencoderKL") {
    throw new CheckpointError(`${file}: "_class_name" is ${className}, not AutoencoderKL`);
  }
  const act = optionalString(raw, "act_fn", file) ?? "silu";
  if (act !== "silu") throw new CheckpointError(`${file}: act_fn "${act}" is not supported (silu)`);
  const blockOutChannels = optionalNumberArray(raw, "block_out_channels", file) ?? [64];
  if (blockOutChannels.length === 0) {
    throw new CheckpointError(`${file}: "block_out_channels" is empty`);
  }
  blockOutChannels.forEach((c, i) => positive(c, `block_out_channels[${i}]`, file));
  const upTypes = raw["up_block_types"];
  if (Array.isArray(upTypes)) {
    if (upTypes.length !== blockOutChannels.length) {
      throw new CheckpointError(
        `${file}: ${upTypes.length} up_block_types for ${blockOutChannels.length} block_out_channels`,
      );
    }
    const odd = upTypes.find((t) => t !== "UpDecoderBlock2D");
    if (odd !== undefined) {
      throw new CheckpointError(`${file}: up block type ${JSON.stringify(odd)} is not supported`);
    }
  }
  const config: VaeConfig = {
    latentChannels: positive(
      optionalInteger(raw, "latent_channels", file) ?? 4,
      "latent_channels",
      file,
    ),
    outChannels: positive(optionalInteger(raw, "out_channels", file) ?? 3, "out_channels", file),
    blockOutChannels,
    layersPerBlock: positive(
      optionalInteger(raw, "layers_per_block", file) ?? 1,
      "layers_per_block",
      file,
    ),
    normGroups: positive(
      optionalInteger(raw, "norm_num_groups", file) ?? 32,
      "norm_num_groups",
      file,
    ),
    scalingFactor: optionalNumber(raw, "scaling_factor", file) ?? 0.18215,
    shiftFactor: optionalNumber(raw, "shift_factor", file) ?? 0,
    usePostQuantConv: optionalBoolean(raw, "use_post_quant_conv", file) ?? true,
    midBlockAttention: optionalBoolean(raw, "mid_block_add_attention", file) ?? true,
  };
  checkFieldRanges(file, [
    // 2^(levels − 1) is the upscale factor; 8 levels already upscale 128×.
    { key: "block_out_channels (count)", value: blockOutChannels.length, min: 1, max: 8 },
    ...blockOutChannels.map((c, i) => ({
      key: `block_out_channels[${i}]`,
      value: c,
      min: 1,
      max: B.channels,
    })),
    { key: "latent_channels", value: config.latentChannels, min: 1, max: B.channels },
    { key: "out_channels", value: config.outChannels, min: 1, max: 4 },
    { key: "layers_per_block", value: config.layersPerBlock, min: 1, max: 64 },
    { key: "norm_num_groups", value: config.normGroups, min: 1, max: B.channels },
    {
      key: "scaling_factor (magnitude)",
      value: Math.abs(config.scalingFactor),
      min: 1e-6,
      max: 1e6,
    },
    { key: "shift_factor", value: Math.abs(config.shiftFactor), min: 0, max: 1e6 },
  ]);
  if (!(config.scalingFactor !== 0)) {
    throw new CheckpointError(`${file}: "scaling_factor" must be non-zero`);
  }
  for (const c of blockOutChannels) {
    if (c % config.normGroups !== 0) {
      throw new CheckpointError(
        `${file}: norm_num_groups ${config.normGroups} does not divide block channels ${c}`,
      );
    }
  }
  return config;
}
