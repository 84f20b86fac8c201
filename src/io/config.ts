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

/** One kind of config value: what errors call it, and the check that a value is one. */
interface ValueKind<T> {
  expected: string;
  accepts: (value: unknown) => value is T;
  /** A copy where the value is mutable (arrays), so callers never alias the parsed JSON. */
  copy?: (value: T) => T;
}

const NUMBER: ValueKind<number> = {
  expected: "a number",
  accepts: (v): v is number => typeof v === "number" && Number.isFinite(v),
};
const INTEGER: ValueKind<number> = {
  expected: "an integer",
  accepts: (v): v is number => typeof v === "number" && Number.isSafeInteger(v),
};
const STRING: ValueKind<string> = {
  expected: "a string",
  accepts: (v): v is string => typeof v === "string",
};
const BOOLEAN: ValueKind<boolean> = {
  expected: "true or false",
  accepts: (v): v is boolean => typeof v === "boolean",
};
const NUMBER_ARRAY: ValueKind<number[]> = {
  expected: "a list of numbers",
  accepts: (v): v is number[] =>
    Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x)),
  copy: (v) => [...v],
};

/** A getter of `config[key]` as a value of `kind`. */
type Getter<T> = (config: JsonConfig, key: string, file: string) => T;

function read<T>(kind: ValueKind<T>, config: JsonConfig, key: string, file: string): T {
  const value = config[key];
  if (!kind.accepts(value)) throw wrongType(file, key, kind.expected, value);
  return kind.copy ? kind.copy(value) : value;
}

/** The getter that refuses a missing (or null) key. */
function required<T>(kind: ValueKind<T>): Getter<T> {
  return (config, key, file) => {
    if (!present(config, key)) throw missing(file, key, kind.expected);
    return read(kind, config, key, file);
  };
}

/** The getter that gives `undefined` for a missing (or null) key. */
function optional<T>(kind: ValueKind<T>): Getter<T | undefined> {
  return (config, key, file) => present(config, key) ? read(kind, config, key, file) : undefined;
}

export const requireNumber: Getter<number> = required(NUMBER);
export const optionalNumber: Getter<number | undefined> = optional(NUMBER);
export const requireInteger: Getter<number> = required(INTEGER);
export const optionalInteger: Getter<number | undefined> = optional(INTEGER);
export const requireString: Getter<string> = required(STRING);
export const optionalString: Getter<string | undefined> = optional(STRING);
export const requireBoolean: Getter<boolean> = required(BOOLEAN);
export const optionalBoolean: Getter<boolean | undefined> = optional(BOOLEAN);
export const requireNumberArray: Getter<number[]> = required(NUMBER_ARRAY);
export const optionalNumberArray: Getter<number[] | undefined> = optional(NUMBER_ARRAY);

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
