/** Builds a scheduler by name. */

import { OptionError } from "../errors.ts";
import { DdimScheduler } from "./ddim.ts";
import { DdpmScheduler } from "./ddpm.ts";
import { DpmSolverScheduler } from "./dpm_solver.ts";
import { batchNoise } from "./prng.ts";
import { SAMPLER_NAMES, type SamplerName, type Scheduler } from "./scheduler.ts";

export interface SchedulerRequest {
  sampler: SamplerName;
  steps: number;
  /** Seed of the per-step noise of ancestral samplers (stream = step + 1 of each sample). */
  seed: number;
  samples: number;
  valuesPerSample: number;
}

export function createScheduler(request: SchedulerRequest): Scheduler {
  const { sampler, steps, seed, samples, valuesPerSample } = request;
  switch (sampler) {
    case "ddim":
      return new DdimScheduler(steps);
    case "dpm-solver++":
      return new DpmSolverScheduler(steps);
    case "ddpm":
      return new DdpmScheduler(
        steps,
        (step) => batchNoise(seed, samples, valuesPerSample, step + 1),
      );
    default:
      throw new OptionError(
        `unknown sampler ${JSON.stringify(sampler)}; choose one of ${SAMPLER_NAMES.join(", ")}`,
      );
  }
}
