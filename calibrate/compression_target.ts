/**
 * What `compress()` and `CompressedSampler` need from a model family. Each family (DiT, PixArt,
 * STDiT2) implements `Compressible` once; the greedy search, plan files and cost accounting are
 * shared.
 */

import type { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionPlan, CostShape } from "../src/compression/plan.ts";
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
> {
  /** Model family written into plan files ("dit", "pixart", "stdit2"). */
  readonly family: string;
  /** Hash of the model config; plans are refused for other configs. */
  readonly configHash: string;
  /** Blocks whose self-attention the plan drives. */
  readonly layers: number;
  /** Tokens one compressible self-attention sees (per frame for video models). */
  readonly tokens: number;
  /** Cost of one sample's step outside the compressible attention, for `planCost`. */
  readonly costShape: CostShape;
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

/** A model that can be compressed: `compress(model, calibData, opts)` accepts it. */
export interface Compressible<Calib extends SeededCalibration, SampleOptions> {
  compressionTarget(): CompressionTarget<Calib, SampleOptions>;
}
