/** Checks of command-line option values shared by the CLI commands; each error names the option. */

import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES, type SamplerName } from "../src/sampling/scheduler.ts";

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
