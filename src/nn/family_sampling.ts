/**
 * What every family's sampler (DiT, PixArt, STDiT2) does once it has checked its own inputs and
 * resolved the latent shape: the memory check, the initial noise, the scheduler, the model
 * batch's conditioning and the sampling loop.
 */

import { createScheduler } from "../sampling/create_scheduler.ts";
import { checkSamplingFits } from "../sampling/run_estimate.ts";
import {
  checkCfgScale,
  type Conditioning,
  type Denoiser,
  initialNoise,
  isGuided,
  type LoopHooks,
  loopHooks,
  type LoopResult,
  runSamplingLoop,
} from "../sampling/sample_loop.ts";
import type { SamplerName, Scheduler } from "../sampling/scheduler.ts";

/** The sampling options every family takes; each family's options document its defaults. */
export interface FamilySampleOptions<C extends Conditioning> extends LoopHooks<C> {
  /** Denoising steps. */
  steps?: number;
  /** Guidance scale; ≤ 1 turns guidance off. */
  cfgScale?: number;
  /** Seed of the initial and per-step noise. Sample i uses stream (seed, i). */
  seed?: number;
  sampler?: SamplerName;
  /** A ready scheduler instead of one built from `sampler` and `steps` (tests replay noise). */
  scheduler?: Scheduler;
  /** Initial noise (the batch's latent values) instead of the seeded draw. */
  noise?: Float32Array;
}

/** A family's defaults for the settings its options leave out (the seed's is 0 in each). */
export interface SamplingDefaults {
  steps: number;
  cfgScale: number;
  sampler: SamplerName;
}

export interface SampleSettings extends SamplingDefaults {
  seed: number;
}

/** The options' settings, with the family's defaults where absent; checks the guidance scale. */
export function sampleSettings<C extends Conditioning>(
  options: FamilySampleOptions<C>,
  defaults: SamplingDefaults,
): SampleSettings {
  const {
    steps = defaults.steps,
    cfgScale = defaults.cfgScale,
    seed = 0,
    sampler = defaults.sampler,
  } = options;
  checkCfgScale(cfgScale);
  return { steps, cfgScale, seed, sampler };
}

/** A family's resolved sampling run. */
export interface FamilySampling<C extends Conditioning> {
  /** Names the run in the memory check's message ("DiT at 32×32 latents"). */
  what: string;
  /** The sample batch [B, ...latent]. */
  shape: readonly number[];
  /** Tokens of one sample, for the memory estimate. */
  tokens: number;
  settings: SampleSettings;
  guidedChannels?: number;
  /** The family's own scheduler for its sampler where `createScheduler` is not it. */
  familyScheduler?: () => Scheduler;
  /** Makes the model batch's conditioning once the checks pass; released after the loop. */
  conditioning: () => C & { release(): void };
}

/** Runs the checked sampling loop of a family; the family has checked its own options. */
export async function runFamilySampling<C extends Conditioning>(
  model: Denoiser<C> & { readonly width: number },
  options: FamilySampleOptions<C>,
  run: FamilySampling<C>,
): Promise<LoopResult> {
  const { shape } = run;
  const { steps, cfgScale, seed, sampler } = run.settings;
  const batch = shape[0];
  const perSample = shape.slice(1).reduce((a, d) => a * d, 1);
  checkSamplingFits(model.gpu, {
    what: run.what,
    samples: batch,
    modelBatch: isGuided(cfgScale) ? 2 * batch : batch,
    latentShape: shape.slice(1),
    tokens: run.tokens,
    width: model.width,
  });
  const noise = initialNoise(options.noise, seed, batch, perSample);
  const scheduler = options.scheduler ?? run.familyScheduler?.() ??
    createScheduler({ sampler, steps, seed, samples: batch, valuesPerSample: perSample });
  const conditioning = run.conditioning();
  try {
    return await runSamplingLoop(model, {
      noise,
      shape,
      conditioning,
      cfgScale,
      guidedChannels: run.guidedChannels,
      scheduler,
      ...loopHooks(options),
    });
  } finally {
    conditioning.release();
  }
}
