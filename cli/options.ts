/** Checks of command-line option values shared by the CLI commands; each error names the option. */

import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES, type SamplerName } from "../src/sampling/scheduler.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";

/** Parses a number option, naming it in the error. */
export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new OptionError(`--${name} must be a number, got "${value}"`);
  }
  return n;
}

/** The value of an option that has no default. */
export function requireOption(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new OptionError(`--${name} is required`);
  return value;
}

/** A comma-separated list option, empty entries dropped. */
export function listOption(value: string): string[] {
  return value.split(",").filter((entry) => entry !== "");
}

/** The --sampler value as a sampler name. */
export function samplerOption(value: string | undefined): SamplerName {
  const sampler = value as SamplerName;
  if (!SAMPLER_NAMES.includes(sampler)) {
    throw new OptionError(`--sampler must be one of ${SAMPLER_NAMES.join(", ")}, got "${value}"`);
  }
  return sampler;
}

/** The --dtype value (weight storage on the GPU). */
export function dtypeOption(value: string | undefined): "f32" | "f16" {
  if (value !== "f32" && value !== "f16") {
    throw new OptionError(`--dtype must be f32 or f16, got "${value}"`);
  }
  return value;
}

/** The calibration threshold δ: required and positive. */
export function thresholdOption(value: string | undefined): number {
  if (value === undefined) throw new OptionError("--threshold is required (e.g. --threshold 0.05)");
  const threshold = numberOption(value, "threshold", NaN);
  if (!(threshold > 0)) {
    throw new OptionError(`--threshold must be a positive number, got ${value}`);
  }
  return threshold;
}

/** The --seed value: an integer 0 … 2³² − 1 (documented in each --help), default 0. */
export function seedOption(value: string | undefined, name = "seed", fallback = 0): number {
  const seed = numberOption(value, name, fallback);
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new OptionError(`--${name} must be an integer from 0 to ${MAX_SEED}, got ${value}`);
  }
  return seed;
}

/** The --cfg value when given: a number from 0 to MAX_CFG_SCALE (checked before any kernel). */
export function cfgOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const cfg = numberOption(value, "cfg", NaN);
  if (!(cfg >= 0 && cfg <= MAX_CFG_SCALE)) {
    throw new OptionError(`--cfg must be a number from 0 to ${MAX_CFG_SCALE}, got ${value}`);
  }
  return cfg;
}

/**
 * The --cols value when given: whole columns, at least 1 and at most one per image (when the
 * image count is known; else only the first rule, checked again once it is).
 */
export function colsOption(value: string | undefined, images?: number): number | undefined {
  if (value === undefined) return undefined;
  const cols = numberOption(value, "cols", NaN);
  const most = images === undefined ? Infinity : Math.max(images, 1);
  if (!Number.isInteger(cols) || cols < 1 || cols > most) {
    const range = most === Infinity
      ? "a positive integer"
      : `an integer from 1 to ${most} (the number of images)`;
    throw new OptionError(`--cols must be ${range}, got ${value}`);
  }
  return cols;
}

/** A positive integer option when given (steps, batch sizes, pixel sizes...). */
export function positiveIntegerOption(
  value: string | undefined,
  name: string,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = numberOption(value, name, NaN);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new OptionError(`--${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return n;
}

/** parseArgs options of every command that samples or calibrates (defaults are the family's). */
const RUN_OPTIONS = {
  steps: { type: "string" },
  cfg: { type: "string" },
  seed: { type: "string" },
  sampler: { type: "string" },
  dtype: { type: "string", default: "f32" },
  help: { type: "boolean", default: false },
} as const;

/** parseArgs options of every command that samples: settings a plan may fix, weights, help. */
export const SAMPLING_OPTIONS = { ...RUN_OPTIONS, plan: { type: "string" } } as const;

/** parseArgs options of every calibrating command. */
export const CALIBRATION_OPTIONS = {
  ...RUN_OPTIONS,
  threshold: { type: "string" },
  window: { type: "string" },
} as const;
