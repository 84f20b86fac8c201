/**
 * What `compress()` and `CompressedSampler` need from a model family. Each family (DiT, PixArt,
 * STDiT2) has one target in `targets/`, made from a model from outside (the model never imports
 * calibration); the greedy search, plan files and cost accounting are shared.
 */

import type { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionPlan } from "../src/compression/plan.ts";
import type { PlanFit } from "../src/compression/plan_file.ts";
import type { Conditioning, LoopResult, StepContext } from "../src/sampling/sample_loop.ts";
import type { SamplerName } from "../src/sampling/scheduler.ts";
import type { StagedDenoiser } from "../src/sampling/staged_model.ts";

/** The sampling settings a plan is calibrated for (and must be sampled with). */
export interface PlanSettings {
  steps: number;
  sampler: SamplerName;
  cfgScale: number;
}

/** Calibration data every family accepts: the seed of the calibration noise (default 0). */
export interface SeededCalibration {
  seed?: number;
}

/** One calibration run: sample under `runtime`, calling `beforeStep` before every step. */
export interface CalibrationRun<C extends Conditioning> extends PlanSettings {
  seed: number;
  runtime: AttentionRuntime;
  beforeStep: (context: StepContext<C>) => Promise<void>;
}

export interface CompressionTarget<
  Calib extends SeededCalibration,
  SampleOptions,
  C extends Conditioning = Conditioning,
> extends PlanFit {
  /** The model, run block by block by the search. */
  readonly model: StagedDenoiser<C>;
  /** The family's default sampler settings (used where the options leave them out). */
  readonly defaults: PlanSettings;
  /**
   * Checks the calibration data before any GPU work (throwing OptionError) and returns the
   * number of calibration samples.
   */
  checkCalibration(calib: Calib): number;
  /** Samples the calibration batch under `run.runtime` with the search hook. */
  runCalibration(calib: Calib, run: CalibrationRun<C>): Promise<unknown>;
  /** Samples with a plan under the settings it was made for. */
  sample(
    options: SampleOptions,
    settings: PlanSettings & { plan: AttentionPlan },
  ): Promise<LoopResult>;
}
