/** Builds a scheduler by name. */

import { OptionError } from "../errors.ts";
import { DdimScheduler } from "./ddim.ts";
import { DdpmScheduler } from "./ddpm.ts";
import { DpmSolverScheduler } from "./dpm_solver.ts";
import type { BetaScheduleOptions } from "./noise_schedule.ts";
import { batchNoise } from "./prng.ts";
import { SAMPLER_NAMES, type SamplerName, type Scheduler } from "./scheduler.ts";

export interface SchedulerRequest {
  sampler: SamplerName;
  steps: number;
  /** Seed of the per-step noise of ancestral samplers (stream = step + 1 of each sample). */
  seed: number;
  samples: number;
  valuesPerSample: number;
  /** Batch index of the first sample (its noise stream), when a batch is run in parts. */
  firstSample?: number;
  /** β schedule (default DiT's: linear 1e-4…0.02 over 1000 training steps). */
  schedule?: BetaScheduleOptions;
}

export function createScheduler(request: SchedulerRequest): Scheduler {
  const { sampler, steps, seed, samples, valuesPerSample, firstSample = 0, schedule = {} } =
    request;
  switch (sampler) {
    case "ddim":
      return new DdimScheduler(steps, schedule);
    case "dpm-solver++":
      return new DpmSolverScheduler(steps, schedule);
    case "ddpm":
      return new DdpmScheduler(
        steps,
        (step) => batchNoise(seed, samples, valuesPerSample, step + 1, firstSample),
        schedule,
      );
    default:
      throw new OptionError(
        `unknown sampler ${JSON.stringify(sampler)}; choose one of ${SAMPLER_NAMES.join(", ")}`,
      );
  }
}
