/**
 * Each family's sampling settings where the options leave them out, in one table: a family's
 * sampler, its pipeline and its `compress()` target read the same row, so a plan calibrated
 * with the defaults samples with them too.
 */

import type { SamplingDefaults } from "../src/nn/family_sampling.ts";

export const SAMPLING_DEFAULTS: Readonly<Record<"dit" | "pixart" | "stdit2", SamplingDefaults>> = {
  /** DiT's own sampler (its pipeline's default comes from the scheduler config). */
  dit: { steps: 20, sampler: "ddim", cfgScale: 4 },
  /** diffusers' PixArt pipelines: DPM-Solver++(2M). */
  pixart: { steps: 20, sampler: "dpm-solver++", cfgScale: 4.5 },
  /** Open-Sora v1.1's inference settings: IDDPM over 100 steps. */
  stdit2: { steps: 100, sampler: "ddpm", cfgScale: 7 },
};
