/** Class-conditional image sampling with a DiT: labels in, samples out. */

import type { AttentionRuntime } from "../../src/compression/attention_runtime.ts";
import type { AttentionPlan } from "../../src/compression/plan.ts";
import { OptionError } from "../../src/errors.ts";
import { createScheduler } from "../../src/sampling/create_scheduler.ts";
import {
  initialNoise,
  isGuided,
  loopHooks,
  type LoopResult,
  runSamplingLoop,
  type StepContext,
} from "../../src/sampling/sample_loop.ts";
import type { SamplerName, Scheduler } from "../../src/sampling/scheduler.ts";
import { Tensor } from "../../src/tensor.ts";
import type { DiTModel } from "./model.ts";

export interface DiTSampleOptions {
  /** Class index per sample. */
  labels: readonly number[];
  /** Denoising steps (default 20). */
  steps?: number;
  /** Guidance scale (default 4); ≤ 1 turns guidance off. */
  cfgScale?: number;
  /** Seed of the initial and per-step noise (default 0). Sample i uses stream (seed, i). */
  seed?: number;
  sampler?: SamplerName;
  /** Guide only the first n ε channels (the original DiT guides 3); default all. */
  guidedChannels?: number;
  /** A ready scheduler instead of one built from `sampler` and `steps` (tests replay noise). */
  scheduler?: Scheduler;
  /** Compression plan; full attention everywhere when absent. */
  plan?: AttentionPlan;
  runtime?: AttentionRuntime;
  /** Initial noise instead of the seeded draw ([B, C, H, W] values). */
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
  beforeStep?: (context: StepContext) => Promise<void> | void;
}

/** Checks labels against the model's classes (before any GPU work). */
export function checkLabels(model: DiTModel, labels: readonly number[]): void {
  if (labels.length === 0) throw new OptionError("at least one class label is needed");
  for (const label of labels) {
    if (!Number.isInteger(label) || label < 0 || label >= model.config.numClasses) {
      throw new OptionError(
        `class label ${label} is out of range: the model has classes 0..${
          model.config.numClasses - 1
        }`,
      );
    }
  }
}

/** Samples [B, C, H, W] at the model's native size. */
export async function sampleDiT(model: DiTModel, options: DiTSampleOptions): Promise<LoopResult> {
  const { labels, steps = 20, cfgScale = 4, seed = 0, sampler = "ddim" } = options;
  checkLabels(model, labels);
  const { inChannels, sampleSize, numClasses } = model.config;
  const batch = labels.length;
  const perSample = inChannels * sampleSize * sampleSize;
  const noise = initialNoise(options.noise, seed, batch, perSample);
  const guided = isGuided(cfgScale);
  const ids = guided ? [...labels, ...labels.map(() => numClasses)] : [...labels];
  const conditioning = Tensor.fromArray(
    model.gpu,
    Int32Array.from(ids),
    [ids.length],
    "i32",
    "labels",
  );
  try {
    return await runSamplingLoop(model, {
      noise,
      shape: [batch, inChannels, sampleSize, sampleSize],
      conditioning,
      cfgScale,
      guidedChannels: options.guidedChannels,
      scheduler: options.scheduler ??
        createScheduler({ sampler, steps, seed, samples: batch, valuesPerSample: perSample }),
      ...loopHooks(options),
    });
  } finally {
    conditioning.release();
  }
}
