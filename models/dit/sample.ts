/** Class-conditional image sampling with a DiT: labels in, samples out. */

import { OptionError } from "../../src/errors.ts";
import { isGuided, type LoopResult } from "../../src/sampling/sample_loop.ts";
import {
  type FamilySampleOptions,
  runFamilySampling,
  sampleSettings,
} from "../../src/nn/family_sampling.ts";
import { Tensor } from "../../src/tensor.ts";
import type { DiTModel } from "./model.ts";
import { SAMPLING_DEFAULTS } from "../sampling_defaults.ts";

/** Defaults: 20 steps, guidance 4, seed 0, DDIM. */
export interface DiTSampleOptions extends FamilySampleOptions<Tensor> {
  /** Class index per sample. */
  labels: readonly number[];
  /** Guide only the first n ε channels (the original DiT guides 3); default all. */
  guidedChannels?: number;
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
  const { labels } = options;
  checkLabels(model, labels);
  const { inChannels, sampleSize, numClasses } = model.config;
  const settings = sampleSettings(options, SAMPLING_DEFAULTS.dit);
  return await runFamilySampling(model, options, {
    what: `DiT at ${sampleSize}×${sampleSize} latents`,
    shape: [labels.length, inChannels, sampleSize, sampleSize],
    tokens: model.tokens(),
    settings,
    guidedChannels: options.guidedChannels,
    conditioning: () => {
      const ids = isGuided(settings.cfgScale)
        ? [...labels, ...labels.map(() => numClasses)]
        : [...labels];
      return Tensor.fromArray(model.gpu, Int32Array.from(ids), [ids.length], "i32", "labels");
    },
  });
}
