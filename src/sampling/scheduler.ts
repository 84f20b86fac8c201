/** The interface every sampler implements, and the names users choose them by. */

import type { Tensor } from "../tensor.ts";

export type SamplerName = "ddim" | "dpm-solver++" | "ddpm";

export const SAMPLER_NAMES: readonly SamplerName[] = ["ddim", "dpm-solver++", "ddpm"];

/**
 * A denoising schedule driven step by step on the GPU. `step` gets the current sample, the
 * guided ε for it and the raw model output (conditional half first; learned-sigma samplers
 * read its variance channels) and returns the next sample. The scheduler may keep tensors
 * between steps (multistep history); `release` frees them.
 */
export interface Scheduler {
  readonly name: SamplerName;
  /** Model timestep of each step, in sampling order. */
  readonly timesteps: readonly number[];
  /** Whether the model's variance channels are used (learned-sigma DDPM). */
  readonly needsVariance: boolean;
  step(stepIndex: number, x: Tensor, eps: Tensor, modelOut: Tensor): Tensor;
  release(): void;
}
