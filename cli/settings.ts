/**
 * The run settings shared by the sampling commands (steps, sampler, guidance, seed, dtype, plan)
 * and by the calibrating commands (the same and the search's threshold and window), read from
 * the options before anything is loaded.
 */

import { type PlanFile, planSettings } from "../src/compression/plan_file.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { SAMPLER_NAMES, type SamplerName } from "../src/sampling/scheduler.ts";
import { loadPlan } from "../deno.ts";
import {
  cfgOption,
  dtypeOption,
  numberOption,
  positiveIntegerOption,
  samplerOption,
  seedOption,
  thresholdOption,
} from "./options.ts";

/** Steps, sampler and guidance scale of a run. */
export interface RunDefaults {
  steps: number;
  sampler: SamplerName;
  cfgScale: number;
}

/** What a sampling command was asked for, its plan loaded and checked against it. */
export interface SamplingSettings {
  dtype: "f32" | "f16";
  /**
   * The options as given, for a pipeline's `generate`: steps, sampler and cfg stay undefined
   * when left out, so a plan's settings apply and a contradicting option is refused rather
   * than silently overridden.
   */
  requested: {
    steps?: number;
    cfgScale?: number;
    sampler?: SamplerName;
    seed: number;
    plan?: PlanFile;
  };
  /** The settings the run will use: the plan's, else the options, else the defaults. */
  resolved: RunDefaults;
}

/**
 * Reads the SAMPLING_OPTIONS values. `parseSteps` reads --steps (`pipeline` takes any integer
 * and leaves the range to its pipeline).
 */
export async function samplingSettings(
  values: {
    steps?: string;
    cfg?: string;
    seed?: string;
    sampler?: string;
    plan?: string;
    dtype?: string;
  },
  defaults: RunDefaults,
  parseSteps = (value: string | undefined) => positiveIntegerOption(value, "steps"),
): Promise<SamplingSettings> {
  const sampler = values.sampler === undefined ? undefined : samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const seed = seedOption(values.seed);
  const steps = parseSteps(values.steps);
  const cfgScale = cfgOption(values.cfg);
  const plan = values.plan ? await loadPlan(values.plan) : undefined;
  // The pipelines refuse a contradicting option too; checked here so the error comes before
  // any loading.
  const resolved = planSettings(plan, { steps, sampler, cfgScale }, defaults);
  return { dtype, requested: { steps, cfgScale, sampler, seed, plan }, resolved };
}

/** What a calibrating command was asked for. */
export interface CalibrationSettings {
  dtype: "f32" | "f16";
  seed: number;
  /** The greedy search's options; `window` undefined: the search's default. */
  search: RunDefaults & { threshold: number; window?: number };
}

/** Reads the CALIBRATION_OPTIONS values. */
export function calibrationSettings(
  values: {
    threshold?: string;
    steps?: string;
    cfg?: string;
    window?: string;
    seed?: string;
    sampler?: string;
    dtype?: string;
  },
  defaults: RunDefaults,
): CalibrationSettings {
  const threshold = thresholdOption(values.threshold);
  const sampler = samplerOption(values.sampler ?? defaults.sampler);
  const dtype = dtypeOption(values.dtype);
  const steps = positiveIntegerOption(values.steps, "steps") ?? defaults.steps;
  const seed = seedOption(values.seed);
  const cfgScale = cfgOption(values.cfg) ?? defaults.cfgScale;
  const window = values.window === undefined ? undefined : numberOption(values.window, "window", 0);
  return { dtype, seed, search: { threshold, steps, sampler, cfgScale, window } };
}

/**
 * The --help lines of a calibrating command from --steps to --out. `window` says what the band
 * half-width counts and its default; `seed` and `dtype` replace the usual descriptions.
 */
export function calibrationHelp(
  help: RunDefaults & {
    window: string;
    seed?: string;
    dtype?: string;
    out: string;
  },
): string {
  const seed = help.seed ?? `seed of the calibration noise, an integer 0 … ${MAX_SEED} (default 0)`;
  return `  --steps N         sampling steps the plan is for (default ${help.steps})
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default ${help.sampler})
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE} (default ${help.cfgScale})
  --window W        band half-width in ${help.window}
  --seed N          ${seed}
  --dtype f32|f16   weight storage on the GPU (default ${help.dtype ?? "f32"})
  --out FILE        plan file to write (default ${help.out})`;
}
