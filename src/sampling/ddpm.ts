/**
 * The original DiT sampler: DDPM ancestral sampling with learned-range variance and timestep
 * respacing (facebookresearch/DiT `create_diffusion(str(S))`, `p_sample_loop`, no clipping).
 */

import { OptionError } from "../errors.ts";
import { ddpmStep } from "../ops/sampler.ts";
import { Tensor } from "../tensor.ts";
import {
  alphasCumprodFloat64,
  type BetaScheduleOptions,
  linearBetas,
  roundHalfEven,
} from "./noise_schedule.ts";
import type { Scheduler } from "./scheduler.ts";

/** Original timesteps kept by respacing T steps to S ("space_timesteps(T, str(S))"). */
export function respacedTimesteps(steps: number, trainSteps = 1000): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new OptionError(`DDPM steps must be an integer in 1..${trainSteps}, got ${steps}`);
  }
  const stride = steps > 1 ? (trainSteps - 1) / (steps - 1) : 1;
  const taken = new Set<number>();
  let position = 0;
  for (let i = 0; i < steps; i++) {
    // Python's round(): halves to even (25 steps hit 166.5 → 166).
    taken.add(roundHalfEven(position));
    position += stride;
  }
  return [...taken].sort((a, b) => a - b);
}

export interface RespacedDiffusion {
  /** Respaced index k → original timestep (what the model sees). */
  timestepMap: number[];
  betas: Float64Array;
  logBetas: Float64Array;
  posteriorLogVarianceClipped: Float64Array;
  posteriorMeanCoef1: Float64Array;
  posteriorMeanCoef2: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
}

/** Variations between implementations of the same respaced diffusion. */
export interface RespacingOptions {
  /**
   * Round the respaced β to float32 before deriving everything else from them (Open-Sora's
   * IDDPM passes them on as a torch.FloatTensor; the original DiT keeps float64).
   */
  float32Betas?: boolean;
}

export function respacedDiffusion(
  steps: number,
  schedule: BetaScheduleOptions = {},
  respacing: RespacingOptions = {},
): RespacedDiffusion {
  const trainSteps = schedule.trainSteps ?? 1000;
  const fullCumprod = alphasCumprodFloat64(linearBetas(schedule));
  const timestepMap = respacedTimesteps(steps, trainSteps);
  const n = timestepMap.length;
  const betas = new Float64Array(n);
  let last = 1;
  timestepMap.forEach((t, k) => {
    const beta = 1 - fullCumprod[t] / last;
    betas[k] = respacing.float32Betas ? Math.fround(beta) : beta;
    last = fullCumprod[t];
  });
  const cumprod = alphasCumprodFloat64(betas);
  const prevCumprod = (k: number) => (k === 0 ? 1 : cumprod[k - 1]);
  const posteriorVariance = betas.map((b, k) => (b * (1 - prevCumprod(k))) / (1 - cumprod[k]));
  return {
    timestepMap,
    betas,
    logBetas: betas.map(Math.log),
    // The first posterior variance is 0; like upstream, its log is clipped to the second one.
    posteriorLogVarianceClipped: posteriorVariance.map((v, k) =>
      Math.log(k === 0 ? (n > 1 ? posteriorVariance[1] : v) : v)
    ),
    posteriorMeanCoef1: betas.map((b, k) => (b * Math.sqrt(prevCumprod(k))) / (1 - cumprod[k])),
    posteriorMeanCoef2: betas.map((b, k) =>
      ((1 - prevCumprod(k)) * Math.sqrt(1 - b)) / (1 - cumprod[k])
    ),
    sqrtRecipAlphasCumprod: cumprod.map((a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: cumprod.map((a) => Math.sqrt(1 / a - 1)),
  };
}

/** Supplies the Gaussian draw z for a step ([samples, C, H, W] values). */
export type StepNoise = (stepIndex: number, size: number) => Float32Array;

export class DdpmScheduler implements Scheduler {
  readonly name = "ddpm" as const;
  readonly needsVariance = true;
  readonly timesteps: readonly number[];
  readonly diffusion: RespacedDiffusion;

  constructor(
    steps: number,
    private readonly noise: StepNoise,
    schedule: BetaScheduleOptions = {},
    respacing: RespacingOptions = {},
  ) {
    this.diffusion = respacedDiffusion(steps, schedule, respacing);
    this.timesteps = [...this.diffusion.timestepMap].reverse();
  }

  step(stepIndex: number, x: Tensor, eps: Tensor, modelOut: Tensor): Tensor {
    const d = this.diffusion;
    const k = d.timestepMap.length - 1 - stepIndex;
    const z = Tensor.fromArray(x.gpu, this.noise(stepIndex, x.size), x.shape, "f32", "ddpmNoise");
    const next = ddpmStep(x, eps, modelOut, z, {
      sqrtRecipAlphaCumprod: d.sqrtRecipAlphasCumprod[k],
      sqrtRecipm1AlphaCumprod: d.sqrtRecipm1AlphasCumprod[k],
      posteriorMeanCoef1: d.posteriorMeanCoef1[k],
      posteriorMeanCoef2: d.posteriorMeanCoef2[k],
      logBeta: d.logBetas[k],
      posteriorLogVarianceClipped: d.posteriorLogVarianceClipped[k],
      noiseScale: k === 0 ? 0 : 1,
    });
    z.release();
    return next;
  }

  release(): void {}
}
