/** DiT as a `compress()` target: class labels as calibration data, labels in for sampling. */

import type { CompressionTarget, SeededCalibration } from "../compression_target.ts";
import { OptionError } from "../../src/errors.ts";
import { Xoshiro128 } from "../../src/sampling/prng.ts";
import type { Tensor } from "../../src/tensor.ts";
import { ditPlanFit } from "../../models/dit/cost.ts";
import { isDiTSchedule, type SchedulerConfig } from "../../src/sampling/scheduler_config.ts";
import type { DiTModel } from "../../models/dit/model.ts";
import { checkLabels, sampleDiT } from "../../models/dit/sample.ts";
import { SAMPLING_DEFAULTS } from "../../models/sampling_defaults.ts";

/** Calibration conditions: explicit class labels, or a count drawn from a seeded generator. */
export interface CalibrationData extends SeededCalibration {
  labels?: readonly number[];
  /** Number of labels to draw when `labels` is absent (default 8). */
  count?: number;
}

export interface CompressedSampleOptions {
  labels: readonly number[];
  seed?: number;
  /** Must equal the plan's step count when given. */
  steps?: number;
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
}

function drawLabels(count: number, classes: number, seed: number): number[] {
  const rng = new Xoshiro128(seed ^ 0x5eed1abe);
  return Array.from({ length: count }, () => rng.nextUint32() % classes);
}

function calibrationLabels(model: DiTModel, calib: CalibrationData): number[] {
  if (calib.labels !== undefined) return [...calib.labels];
  return drawLabels(calib.count ?? 8, model.config.numClasses, calib.seed ?? 0);
}

/**
 * DiT as a `compress()` target. Calibration samples with DiT's own β schedule, so a pipeline
 * scheduler config with another schedule (when given) is refused.
 */
export function ditTarget(
  model: DiTModel,
  scheduler?: SchedulerConfig,
): CompressionTarget<CalibrationData, CompressedSampleOptions, Tensor> {
  if (scheduler && !isDiTSchedule(scheduler)) {
    const { betaStart, betaEnd, trainSteps } = scheduler.schedule;
    throw new OptionError(
      `${scheduler.source}: calibration runs DiT's β schedule (linear 1e-4…0.02 over ` +
        `1000 steps), not this one (${betaStart}…${betaEnd} over ${trainSteps})`,
    );
  }
  return {
    ...ditPlanFit(model),
    model,
    defaults: SAMPLING_DEFAULTS.dit,
    checkCalibration(calib) {
      if (calib.labels === undefined) {
        const count = calib.count ?? 8;
        if (!Number.isInteger(count) || count < 1) {
          throw new OptionError(`n_calib must be an integer ≥ 1, got ${count}`);
        }
        return count;
      }
      if (calib.labels.length < 1) throw new OptionError("calibration needs at least one label");
      checkLabels(model, calib.labels);
      return calib.labels.length;
    },
    runCalibration(calib, run) {
      return sampleDiT(model, {
        labels: calibrationLabels(model, calib),
        ...run,
      });
    },
    sample(options, settings) {
      return sampleDiT(model, {
        labels: options.labels,
        seed: options.seed,
        noise: options.noise,
        onStep: options.onStep,
        ...settings,
      });
    },
  };
}
