/**
 * Open-Sora STDiT2 (v1.1) configuration from a `config.json`: either the Hugging Face form the
 * hub checkpoints ship (`architectures: ["STDiT2"]`, `model_type: "stdit2"`) or the plain form
 * with `_class_name: "STDiT2"`. Missing fields take the STDiT2-XL/2 values.
 */

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
import { configHash } from "../dit/config.ts";

export interface STDiT2Config {
  depth: number;
  hiddenSize: number;
  numHeads: number;
  /** Patch extent over (frames, height, width). */
  patchSize: [number, number, number];
  inChannels: number;
  /** 2·inChannels with learned sigma (pred_sigma). */
  outChannels: number;
  /** Width of the text-encoder embeddings (T5-XXL: 4096). */
  captionChannels: number;
  /** Caption tokens L; `y_embedder.y_embedding` (the null caption) has this many rows. */
  modelMaxLength: number;
  /** Side of the square the position-embedding scale refers to (pixels). */
  inputSqSize: number;
  /** Hidden width of the MLP (int(hiddenSize · mlp_ratio)). */
  mlpHidden: number;
  /** q/k RMSNorm in every self-attention. */
  qkNorm: boolean;
}

const STDIT2_NAMES = ["STDiT2", "stdit2"];

function positive(config: JsonConfig, key: string, file: string, fallback: number): number {
  const value = optionalInteger(config, key, file) ?? fallback;
  if (value < 1) throw new CheckpointError(`${file}: "${key}" must be ≥ 1, got ${value}`);
  return value;
}

/** Which model the file describes, from whichever naming field it carries. */
function modelNames(config: JsonConfig, file: string): string[] {
  const names: string[] = [];
  const className = optionalString(config, "_class_name", file);
  if (className) names.push(className);
  const modelType = optionalString(config, "model_type", file);
  if (modelType) names.push(modelType);
  const architectures = config["architectures"];
  if (Array.isArray(architectures)) {
    names.push(...architectures.filter((a): a is string => typeof a === "string"));
  }
  return names;
}

export function parseSTDiT2Config(config: JsonConfig, file: string): STDiT2Config {
  const names = modelNames(config, file);
  if (names.length > 0 && !names.some((n) => STDIT2_NAMES.includes(n))) {
    throw new CheckpointError(`${file}: describes ${names.join("/")}, not an Open-Sora STDiT2`);
  }
  const patch = optionalNumberArray(config, "patch_size", file) ?? [1, 2, 2];
  if (patch.length !== 3 || patch.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new CheckpointError(
      `${file}: "patch_size" must be three positive integers [t, h, w], got [${patch}]`,
    );
  }
  const hiddenSize = positive(config, "hidden_size", file, 1152);
  const numHeads = positive(config, "num_heads", file, 16);
  checkFieldRanges(file, [
    ...patch.map((p, i) => ({ key: `patch_size[${i}]`, value: p, min: 1, max: B.patch })),
    { key: "hidden_size", value: hiddenSize, min: 1, max: B.channels },
    { key: "num_heads", value: numHeads, min: 1, max: B.heads },
    { key: "mlp_ratio", value: optionalNumber(config, "mlp_ratio", file) ?? 4, min: 0, max: 64 },
  ]);
  if (hiddenSize % numHeads !== 0) {
    throw new CheckpointError(
      `${file}: hidden_size ${hiddenSize} is not divisible by num_heads ${numHeads}`,
    );
  }
  // The size and aspect-ratio embedders are a third of the width each.
  if (hiddenSize % 3 !== 0) {
    throw new CheckpointError(`${file}: hidden_size ${hiddenSize} must be divisible by 3`);
  }
  const headDim = hiddenSize / numHeads;
  if (headDim % 2 !== 0) {
    throw new CheckpointError(`${file}: head dim ${headDim} must be even for the rotary embedding`);
  }
  const mlpRatio = optionalNumber(config, "mlp_ratio", file) ?? 4;
  const mlpHidden = Math.trunc(hiddenSize * mlpRatio);
  if (!(mlpHidden >= 1)) throw new CheckpointError(`${file}: mlp_ratio ${mlpRatio} is not usable`);
  const inChannels = positive(config, "in_channels", file, 4);
  const predSigma = optionalBoolean(config, "pred_sigma", file) ?? true;
  const parsed: STDiT2Config = {
    depth: positive(config, "depth", file, 28),
    hiddenSize,
    numHeads,
    patchSize: [patch[0], patch[1], patch[2]],
    inChannels,
    outChannels: predSigma ? 2 * inChannels : inChannels,
    captionChannels: positive(config, "caption_channels", file, 4096),
    modelMaxLength: positive(config, "model_max_length", file, 200),
    inputSqSize: positive(config, "input_sq_size", file, 512),
    mlpHidden,
    qkNorm: optionalBoolean(config, "qk_norm", file) ?? false,
  };
  checkFieldRanges(file, [
    { key: "depth", value: parsed.depth, min: 1, max: B.layers },
    { key: "in_channels", value: inChannels, min: 1, max: B.channels },
    { key: "caption_channels", value: parsed.captionChannels, min: 1, max: B.channels },
    { key: "model_max_length", value: parsed.modelMaxLength, min: 1, max: B.tokens },
    { key: "input_sq_size", value: parsed.inputSqSize, min: 1, max: B.channels },
  ]);
  return parsed;
}

export function headDim(config: STDiT2Config): number {
  return config.hiddenSize / config.numHeads;
}

/** configHash over the config and `extra` settings (those a plan also depends on). */
export function stdit2ConfigHash(
  config: STDiT2Config,
  extra: Readonly<Record<string, number>> = {},
): string {
  return configHash({ ...config, ...extra });
}
