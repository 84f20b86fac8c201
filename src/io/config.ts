/**
 * Reading JSON config files (diffusers `config.json` and the like) with typed field access.
 * Model-specific parsing builds on these getters, so every config problem comes back as a
 * CheckpointError naming the file, the key and what was expected.
 */

import { CheckpointError } from "../errors.ts";

export type JsonConfig = Record<string, unknown>;

/** Parses `text` (read from `path`) as a JSON object. */
export function parseJsonConfig(text: string, path: string): JsonConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path}: config is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(`${path}: config is not a JSON object`);
  }
  return json as JsonConfig;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function wrongType(file: string, key: string, expected: string, value: unknown): CheckpointError {
  return new CheckpointError(`${file}: "${key}" should be ${expected}, got ${describe(value)}`);
}

function missing(file: string, key: string, expected: string): CheckpointError {
  return new CheckpointError(`${file}: required key "${key}" (${expected}) is missing`);
}

/** JSON null counts as absent: diffusers writes `null` for unset optional fields. */
function present(config: JsonConfig, key: string): boolean {
  return Object.hasOwn(config, key) && config[key] !== null;
}

function asNumber(config: JsonConfig, key: string, file: string): number {
  const value = config[key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw wrongType(file, key, "a number", value);
  }
  return value;
}

function asInteger(config: JsonConfig, key: string, file: string): number {
  const value = config[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw wrongType(file, key, "an integer", value);
  }
  return value;
}

function asString(config: JsonConfig, key: string, file: string): string {
  const value = config[key];
  if (typeof value !== "string") throw wrongType(file, key, "a string", value);
  return value;
}

function asBoolean(config: JsonConfig, key: string, file: string): boolean {
  const value = config[key];
  if (typeof value !== "boolean") throw wrongType(file, key, "true or false", value);
  return value;
}

function asNumberArray(config: JsonConfig, key: string, file: string): number[] {
  const value = config[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw wrongType(file, key, "a list of numbers", value);
  }
  return [...value];
}

export function requireNumber(config: JsonConfig, key: string, file: string): number {
  if (!present(config, key)) throw missing(file, key, "a number");
  return asNumber(config, key, file);
}

export function optionalNumber(
  config: JsonConfig,
  key: string,
  file: string,
): number | undefined {
  return present(config, key) ? asNumber(config, key, file) : undefined;
}

export function requireInteger(config: JsonConfig, key: string, file: string): number {
  if (!present(config, key)) throw missing(file, key, "an integer");
  return asInteger(config, key, file);
}

export function optionalInteger(
  config: JsonConfig,
  key: string,
  file: string,
): number | undefined {
  return present(config, key) ? asInteger(config, key, file) : undefined;
}

export function requireString(config: JsonConfig, key: string, file: string): string {
  if (!present(config, key)) throw missing(file, key, "a string");
  return asString(config, key, file);
}

export function optionalString(
  config: JsonConfig,
  key: string,
  file: string,
): string | undefined {
  return present(config, key) ? asString(config, key, file) : undefined;
}

export function requireBoolean(config: JsonConfig, key: string, file: string): boolean {
  if (!present(config, key)) throw missing(file, key, "true or false");
  return asBoolean(config, key, file);
}

export function optionalBoolean(
  config: JsonConfig,
  key: string,
  file: string,
): boolean | undefined {
  return present(config, key) ? asBoolean(config, key, file) : undefined;
}

export function requireNumberArray(config: JsonConfig, key: string, file: string): number[] {
  if (!present(config, key)) throw missing(file, key, "a list of numbers");
  return asNumberArray(config, key, file);
}

export function optionalNumberArray(
  config: JsonConfig,
  key: string,
  file: string,
): number[] | undefined {
  return present(config, key) ? asNumberArray(config, key, file) : undefined;
}

/** A config value and the range it must lie in (checked at parse time, before any allocation). */
export interface FieldRange {
  /** The key in the file. */
  key: string;
  value: number;
  min: number;
  max: number;
  /** Whole numbers only (sizes, counts). */
  integer?: boolean;
  /** `min` itself is refused (epsilons, scales). */
  aboveMin?: boolean;
}

/**
 * Generous bounds on model sizes: far above any released model, far below what would make a
 * loader allocate gigabytes of bookkeeping before noticing (`num_layers: 1e6`).
 */
export const CONFIG_BOUNDS = {
  layers: 1000,
  heads: 1024,
  channels: 1 << 16,
  /** Latent or pixel side of the trained size. */
  sampleSize: 1 << 14,
  patch: 64,
  classes: 1 << 20,
  tokens: 1 << 20,
} as const;

/** Throws one CheckpointError naming the file, the key, the value and the range it missed. */
export function checkFieldRanges(file: string, fields: readonly FieldRange[]): void {
  for (const { key, value, min, max, integer, aboveMin } of fields) {
    const low = aboveMin ? value > min : value >= min;
    if (Number.isFinite(value) && (!integer || Number.isInteger(value)) && low && value <= max) {
      continue;
    }
    const kind = integer ? "an integer" : "a number";
    const lower = aboveMin ? `above ${min}` : `from ${min}`;
    throw new CheckpointError(
      `${file}: "${key}" is ${value}; expected ${kind} ${lower} to ${max}`,
    );
  }
}
