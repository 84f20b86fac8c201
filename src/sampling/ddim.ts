/**
 * DDIM (η = 0) as diffusers' DDIMScheduler is configured by the DiT pipeline: leading timestep
 * spacing, set_alpha_to_one, ε-prediction, no clipping (docs/DESIGN.md §3).
 */

import { OptionError } from "../errors.ts";
import { linearCombination } from "../ops/sampler.ts";
import type { Tensor } from "../tensor.ts";
import { alphasCumprodFloat32, type BetaScheduleOptions } from "./noise_schedule.ts";
import type { Scheduler } from "./scheduler.ts";

/** Leading spacing: t_i = i·⌊T/S⌋ for i < S, in descending order. */
export function ddimTimesteps(steps: number, trainSteps = 1000): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new OptionError(`DDIM steps must be an integer in 1..${trainSteps}, got ${steps}`);
  }
  const ratio = Math.floor(trainSteps / steps);
  return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio);
}

/** The two coefficients of x_prev = a·x + b·ε for each step. */
export function ddimCoefficients(
  steps: number,
  schedule: BetaScheduleOptions = {},
): { timesteps: number[]; sampleCoef: number[]; epsCoef: number[] } {
  const trainSteps = schedule.trainSteps ?? 1000;
  const alphasCumprod = alphasCumprodFloat32(schedule);
  const timesteps = ddimTimesteps(steps, trainSteps);
  const ratio = Math.floor(trainSteps / steps);
  const sampleCoef: number[] = [];
  const epsCoef: number[] = [];
  for (const t of timesteps) {
    const alpha = alphasCumprod[t];
    const prev = t - ratio >= 0 ? alphasCumprod[t - ratio] : 1;
    // x0 = (x − √(1−ᾱ)ε)/√ᾱ; x_prev = √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε
    const a = Math.sqrt(prev / alpha);
    sampleCoef.push(a);
    epsCoef.push(Math.sqrt(1 - prev) - a * Math.sqrt(1 - alpha));
  }
  return { timesteps, sampleCoef, epsCoef };
}

export class DdimScheduler implements Scheduler {
  readonly name = "ddim" as const;
  readonly needsVariance = false;
  readonly timesteps: readonly number[];
  readonly #sampleCoef: number[];
  readonly #epsCoef: number[];

  constructor(steps: number, schedule: BetaScheduleOptions = {}) {
    const c = ddimCoefficients(steps, schedule);
    this.timesteps = c.timesteps;
    this.#sampleCoef = c.sampleCoef;
    this.#epsCoef = c.epsCoef;
  }

  step(stepIndex: number, x: Tensor, eps: Tensor): Tensor {
    return linearCombination([x, eps], [this.#sampleCoef[stepIndex], this.#epsCoef[stepIndex]]);
  }

  release(): void {}
}
