/**
 * DPM-Solver++(2M) as diffusers' DPMSolverMultistepScheduler with its defaults: linspace
 * timestep spacing, midpoint second-order update, first order at the first step and at the
 * last (final sigma 0), ε-prediction converted to x0.
 */

import { OptionError } from "../errors.ts";
import { linearCombination } from "../ops/sampler.ts";
import type { Tensor } from "../tensor.ts";
import { alphasCumprodFloat32, type BetaScheduleOptions, roundHalfEven } from "./noise_schedule.ts";
import type { Scheduler } from "./scheduler.ts";

export interface DpmSolverSchedule {
  timesteps: number[];
  /** σ_i = √((1−ᾱ)/ᾱ) in float32 at each timestep, plus a final 0. */
  sigmas: number[];
  /** Solver order used at each step (1 or 2). */
  orders: number[];
}

export function dpmSolverSchedule(
  steps: number,
  schedule: BetaScheduleOptions = {},
): DpmSolverSchedule {
  const trainSteps = schedule.trainSteps ?? 1000;
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new OptionError(
      `DPM-Solver++ steps must be an integer in 1..${trainSteps}, got ${steps}`,
    );
  }
  const alphasCumprod = alphasCumprodFloat32(schedule);
  const timesteps: number[] = [];
  for (let i = steps; i >= 1; i--) {
    timesteps.push(roundHalfEven((i * (trainSteps - 1)) / steps));
  }
  const f = Math.fround;
  const sigmas = timesteps.map((t) => {
    const a = alphasCumprod[t];
    return f(Math.sqrt(f(f(1 - a) / a)));
  });
  sigmas.push(0);
  const orders = timesteps.map((_, i) => (i === 0 || i === steps - 1 ? 1 : 2));
  return { timesteps, sigmas, orders };
}

/** α_t, σ_t and λ_t of the VP form for a VE sigma. */
function vpTerms(sigma: number): { alpha: number; sigmaVp: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const sigmaVp = sigma * alpha;
  return { alpha, sigmaVp, lambda: Math.log(alpha) - Math.log(sigmaVp) };
}

export class DpmSolverScheduler implements Scheduler {
  readonly name = "dpm-solver++" as const;
  readonly needsVariance = false;
  readonly timesteps: readonly number[];
  readonly schedule: DpmSolverSchedule;
  #previousX0: Tensor | null = null;

  constructor(steps: number, schedule: BetaScheduleOptions = {}) {
    this.schedule = dpmSolverSchedule(steps, schedule);
    this.timesteps = this.schedule.timesteps;
  }

  step(i: number, x: Tensor, eps: Tensor): Tensor {
    const { sigmas, orders } = this.schedule;
    const now = vpTerms(sigmas[i]);
    const x0 = linearCombination([x, eps], [1 / now.alpha, -now.sigmaVp / now.alpha]);
    let next: Tensor;
    if (sigmas[i + 1] === 0) {
      // σ = 0 makes λ infinite and e^{−h} = 0: the update returns x0 exactly.
      next = linearCombination([x0], [1]);
    } else {
      const target = vpTerms(sigmas[i + 1]);
      const h = target.lambda - now.lambda;
      const decay = Math.exp(-h) - 1;
      const ratio = target.sigmaVp / now.sigmaVp;
      if (orders[i] === 1 || !this.#previousX0) {
        next = linearCombination([x, x0], [ratio, -target.alpha * decay]);
      } else {
        const before = vpTerms(sigmas[i - 1]);
        const r0 = (now.lambda - before.lambda) / h;
        // D0 = x0_i, D1 = (x0_i − x0_{i−1})/r0; x ← ratio·x − α(e^{−h}−1)(D0 + D1/2)
        const c = -target.alpha * decay;
        next = linearCombination(
          [x, x0, this.#previousX0],
          [ratio, c * (1 + 0.5 / r0), -c * 0.5 / r0],
        );
      }
    }
    this.#previousX0?.release();
    this.#previousX0 = x0;
    return next;
  }

  release(): void {
    this.#previousX0?.release();
    this.#previousX0 = null;
  }
}
