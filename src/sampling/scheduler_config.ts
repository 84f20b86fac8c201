/**
 * A diffusers `scheduler_config.json` read into the settings our samplers can follow. The beta
 * schedule (linear β from `beta_start` to `beta_end` over `num_train_timesteps`) is honoured by
 * every sampler; the class name picks the default sampler; every setting that would change the
 * update rule in a way our samplers do not implement is refused with an OptionError naming the
 * key, instead of being ignored.
 */

import { OptionError } from "../errors.ts";
import {
  type JsonConfig,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalString,
} from "../io/config.ts";
import type { Folder } from "../io/folder.ts";
import { readJsonConfig } from "../io/model_folder.ts";
import { createScheduler, type SchedulerRequest } from "./create_scheduler.ts";
import type { BetaScheduleOptions } from "./noise_schedule.ts";
import { SAMPLER_NAMES, type SamplerName, type Scheduler } from "./scheduler.ts";

export interface SchedulerConfig {
  /** `_class_name` of the file ("DDIMScheduler" when absent). */
  className: string;
  /** The sampler of that class, or undefined when we have no counterpart for it. */
  sampler: SamplerName | undefined;
  schedule: Required<BetaScheduleOptions>;
  /** `variance_type` when the file sets one (only the learned-range DDPM uses variances). */
  varianceType: string | undefined;
  /** Where the settings came from (for messages). */
  source: string;
}

/** DiTPipeline's own configuration: DDIM over the linear 1e-4…0.02 schedule of 1000 steps. */
export const DIT_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = {
  className: "DDIMScheduler",
  sampler: "ddim",
  schedule: { trainSteps: 1000, betaStart: 1e-4, betaEnd: 0.02 },
  varianceType: undefined,
  source: "the default DiT scheduler",
};

/** Scheduler classes with a sampler here (diffusers' DDPMScheduler spaces steps differently). */
const SAMPLER_OF_CLASS: Readonly<Record<string, SamplerName>> = {
  DDIMScheduler: "ddim",
  DPMSolverMultistepScheduler: "dpm-solver++",
};

/** Values our samplers implement, for the keys that change the update when set otherwise. */
const COMMON_REQUIREMENTS: Readonly<Record<string, unknown>> = {
  beta_schedule: "linear",
  prediction_type: "epsilon",
  thresholding: false,
  rescale_betas_zero_snr: false,
  clip_sample: false,
};

const CLASS_REQUIREMENTS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  DDIMScheduler: {
    set_alpha_to_one: true,
    steps_offset: 0,
    timestep_spacing: "leading",
  },
  DPMSolverMultistepScheduler: {
    algorithm_type: "dpmsolver++",
    solver_order: 2,
    solver_type: "midpoint",
    lower_order_final: true,
    euler_at_final: false,
    use_karras_sigmas: false,
    use_exponential_sigmas: false,
    use_beta_sigmas: false,
    use_lu_lambdas: false,
    final_sigmas_type: "zero",
    timestep_spacing: "linspace",
    steps_offset: 0,
    variance_type: null,
  },
};

/** The value of `key` through the typed getters (so a wrong type is a CheckpointError). */
function readValue(raw: JsonConfig, key: string, expected: unknown, file: string): unknown {
  if (typeof expected === "boolean") return optionalBoolean(raw, key, file);
  if (typeof expected === "number") return optionalInteger(raw, key, file);
  if (typeof expected === "string") return optionalString(raw, key, file);
  return raw[key] ?? undefined;
}

function checkRequirements(
  raw: JsonConfig,
  requirements: Readonly<Record<string, unknown>>,
  file: string,
  className: string,
): void {
  for (const [key, expected] of Object.entries(requirements)) {
    const value = readValue(raw, key, expected, file);
    if (value === undefined || value === expected) continue;
    throw new OptionError(
      `${file}: ${className} with "${key}": ${JSON.stringify(value)} is not supported ` +
        `(this library implements ${JSON.stringify(expected)})`,
    );
  }
}

/** Parses a scheduler config; unsupported settings are refused with an OptionError. */
export function parseSchedulerConfig(raw: JsonConfig, file: string): SchedulerConfig {
  const className = optionalString(raw, "_class_name", file) ?? "DDIMScheduler";
  checkRequirements(raw, COMMON_REQUIREMENTS, file, className);
  if (raw["trained_betas"] !== undefined && raw["trained_betas"] !== null) {
    throw new OptionError(
      `${file}: "trained_betas" (an explicit β list) is not supported; only the linear schedule`,
    );
  }
  const requirements = CLASS_REQUIREMENTS[className];
  if (requirements) checkRequirements(raw, requirements, file, className);
  const trainSteps = optionalInteger(raw, "num_train_timesteps", file) ?? 1000;
  const betaStart = optionalNumber(raw, "beta_start", file) ?? 1e-4;
  const betaEnd = optionalNumber(raw, "beta_end", file) ?? 0.02;
  if (trainSteps < 2) {
    throw new OptionError(`${file}: "num_train_timesteps" must be at least 2, got ${trainSteps}`);
  }
  if (!(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1)) {
    throw new OptionError(
      `${file}: the β range ${betaStart}…${betaEnd} must satisfy 0 < beta_start ≤ beta_end < 1`,
    );
  }
  return {
    className,
    sampler: SAMPLER_OF_CLASS[className],
    schedule: { trainSteps, betaStart, betaEnd },
    varianceType: optionalString(raw, "variance_type", file),
    source: file,
  };
}

/** Reads and parses `scheduler_config.json` (or any file of that form) in `folder`. */
export async function readSchedulerConfig(
  folder: Folder,
  name = "scheduler_config.json",
): Promise<SchedulerConfig> {
  return parseSchedulerConfig(await readJsonConfig(folder, name), folder.pathOf(name));
}

/** True when the schedule is DiT's training schedule (what calibration assumes). */
export function isDiTSchedule(config: SchedulerConfig): boolean {
  const a = config.schedule, b = DIT_SCHEDULER_CONFIG.schedule;
  return a.trainSteps === b.trainSteps && a.betaStart === b.betaStart && a.betaEnd === b.betaEnd;
}

/**
 * The sampler to run: the caller's choice, else the config's class. A sampler of another
 * family than the config's class takes only the β schedule from the file.
 */
export function chooseSampler(config: SchedulerConfig, requested?: SamplerName): SamplerName {
  const sampler = requested ?? config.sampler;
  if (sampler === undefined) {
    throw new OptionError(
      `${config.source} names ${config.className}, which has no counterpart here; choose a ` +
        `sampler (${SAMPLER_NAMES.join(", ")})`,
    );
  }
  if (!SAMPLER_NAMES.includes(sampler)) {
    throw new OptionError(
      `unknown sampler ${JSON.stringify(sampler)}; choose one of ${SAMPLER_NAMES.join(", ")}`,
    );
  }
  if (sampler === "ddpm" && config.varianceType !== undefined) {
    const learned = config.varianceType === "learned_range" || config.varianceType === "learned";
    if (!learned) {
      throw new OptionError(
        `${config.source}: variance_type "${config.varianceType}" is not supported by the ddpm ` +
          `sampler, which uses the model's learned-range variance`,
      );
    }
  }
  return sampler;
}

/** A scheduler following `config`'s β schedule (sampler: the request's, else the class's). */
export function schedulerFromConfig(
  config: SchedulerConfig,
  request: Omit<SchedulerRequest, "schedule" | "sampler"> & { sampler?: SamplerName },
): Scheduler {
  return createScheduler({
    ...request,
    sampler: chooseSampler(config, request.sampler),
    schedule: config.schedule,
  });
}
