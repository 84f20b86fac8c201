/**
 * `compress(model, calibData, opts)`: runs the greedy calibration on a calibration batch and
 * returns a sampler that samples with the resulting plan.
 */

import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import {
  type AttentionMethod,
  CANDIDATE_METHODS,
  isAttentionMethod,
  isCfgShareMethod,
  isWindowMethod,
} from "../src/compression/methods.ts";
import { fullPlan, planCost } from "../src/compression/plan.ts";
import { OptionError } from "../src/errors.ts";
import { isGuided } from "../src/sampling/sample_loop.ts";
import type { SamplerName } from "../src/sampling/scheduler.ts";
import { CompressedSampler } from "./compressed_sampler.ts";
import type { CompressionTarget, SeededCalibration } from "./compression_target.ts";
import { DiTModel } from "../models/dit/model.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { STDiT2Model } from "../models/stdit2/model.ts";
import {
  type CalibrationData,
  type CompressedSampleOptions,
  ditTarget,
  type PixArtCalibration,
  type PixArtCompressedSampleOptions,
  pixartTarget,
  type STDiT2CalibrationData,
  type STDiT2CompressedSampleOptions,
  stdit2Target,
} from "./targets/mod.ts";
import {
  type Decision,
  layerThresholds,
  type SearchCounters,
  searchStep,
} from "./greedy_search.ts";
import { PLAN_FORMAT, PLAN_VERSION, type PlanFile } from "../src/compression/plan_file.ts";

export interface CalibrationProgress {
  step: number;
  steps: number;
  elapsedSeconds: number;
  /** Estimated seconds left (from the mean time of the searched steps so far). */
  etaSeconds: number;
}

export interface CompressOptions {
  /** δ: the error budget; layer l may add at most (l+1)/L·δ mean relative error. */
  threshold: number;
  /** Band half-width w (default N/8 tokens). */
  window?: number;
  /** Sampling steps the plan is made for (default 20). */
  steps?: number;
  sampler?: SamplerName;
  /** Guidance scale (default 4); CFG-sharing candidates are dropped when guidance is off. */
  cfgScale?: number;
  /** Candidates in the order tried (default: output share, WA-RS+ASC, WA-RS, ASC). */
  candidates?: readonly AttentionMethod[];
  onProgress?: (progress: CalibrationProgress) => void;
  /**
   * Keep the hidden states of the layers already decided so a trial of layer l runs only the
   * blocks from l on (default true; false measures the search without reuse).
   */
  reuseHiddenStates?: boolean;
}

/** Checks the options before any GPU work. */
function checkOptions(options: CompressOptions): void {
  const { threshold } = options;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold <= 0) {
    throw new OptionError(`threshold δ must be a positive number, got ${threshold}`);
  }
  if (options.window !== undefined && (!Number.isInteger(options.window) || options.window < 0)) {
    throw new OptionError(`window must be a non-negative integer, got ${options.window}`);
  }
  for (const m of options.candidates ?? []) {
    if (!isAttentionMethod(m) || m === "FULL_ATTN") {
      throw new OptionError(`candidate ${JSON.stringify(m)} is not a compressed attention method`);
    }
  }
}

/**
 * Calibrates a compression plan and returns a sampler using it. The first argument is a
 * family's target (`ditTarget(model)`, `pixartTarget(model, { height, width })`,
 * `stdit2Target(model, videoSize)`), or a model, which means its target at the default size.
 *
 * @example
 * ```ts
 * const model = await DiTModel.load(await getGpu(), "assets/tiny-fmnist");
 * const sampler = await compress(model, { count: 8, seed: 1 }, { threshold: 0.05, steps: 20 });
 * console.log(sampler.cost().attentionMacsFraction);
 * const images = await sampler.sample({ labels: [0, 7], seed: 3 });
 * await sampler.save("plans/fmnist-0.05.json");
 * ```
 */
export function compress(
  model: DiTModel,
  calibData: CalibrationData,
  options: CompressOptions,
): Promise<CompressedSampler<CompressedSampleOptions>>;
export function compress(
  model: PixArtModel,
  calibData: PixArtCalibration,
  options: CompressOptions,
): Promise<CompressedSampler<PixArtCompressedSampleOptions>>;
export function compress(
  model: STDiT2Model,
  calibData: STDiT2CalibrationData,
  options: CompressOptions,
): Promise<CompressedSampler<STDiT2CompressedSampleOptions>>;
export function compress<Calib extends SeededCalibration, SampleOptions>(
  target: CompressionTarget<Calib, SampleOptions>,
  calibData: Calib,
  options: CompressOptions,
): Promise<CompressedSampler<SampleOptions>>;
export async function compress(
  what: unknown,
  calibData: SeededCalibration,
  options: CompressOptions,
): Promise<CompressedSampler<unknown>> {
  checkOptions(options);
  return await calibrate(targetOf(what), calibData, options);
}

// deno-lint-ignore no-explicit-any
type AnyTarget = CompressionTarget<any, any>;

/** A model's target at its default size, or the target itself. */
function targetOf(what: unknown): AnyTarget {
  if (what instanceof DiTModel) return ditTarget(what);
  if (what instanceof PixArtModel) return pixartTarget(what);
  if (what instanceof STDiT2Model) return stdit2Target(what);
  const target = what as Partial<AnyTarget> | null;
  if (target && typeof target.runCalibration === "function" && target.model) {
    return target as AnyTarget;
  }
  throw new OptionError(
    "compress() takes a model (DiT, PixArt, STDiT2) or a target (ditTarget, pixartTarget, " +
      "stdit2Target)",
  );
}

async function calibrate(
  target: AnyTarget,
  calibData: SeededCalibration,
  options: CompressOptions,
): Promise<CompressedSampler<unknown>> {
  const calibrationCount = target.checkCalibration(calibData);
  const {
    steps = target.defaults.steps,
    sampler = target.defaults.sampler,
    cfgScale = target.defaults.cfgScale,
  } = options;
  const { threshold } = options;
  const seed = calibData.seed ?? 0;
  const { tokens, layers } = target;
  const window = options.window ?? Math.floor(tokens / 8);
  // A plan file takes windows up to the token count only (wider is full attention anyway).
  if (window > tokens) {
    throw new OptionError(`window ${window} exceeds the ${tokens} tokens one attention sees`);
  }
  const guided = isGuided(cfgScale);
  const candidates = (options.candidates ?? CANDIDATE_METHODS).filter((m) =>
    guided || !isCfgShareMethod(m)
  );
  const plan = fullPlan(layers, steps, window);
  const runtime = new AttentionRuntime(plan, {
    // Residuals serve window candidates only; without them the fused full+residual kernel is
    // never needed (SwiftShader cannot compile it at some shapes, see docs/BROWSER.md).
    storeResidualAtEveryFullStep: candidates.some(isWindowMethod),
    keepEveryOutput: true,
  });
  const thresholds = layerThresholds(layers, threshold);
  const counters: SearchCounters = { blocks: 0, naiveBlocks: 0, losses: 0 };
  const decisions: Decision[] = [];
  const started = performance.now();
  try {
    await target.runCalibration(calibData, {
      steps,
      cfgScale,
      seed,
      sampler,
      runtime,
      beforeStep: async ({ step, timestep, modelInput, conditioning }) => {
        if (step === 0) return; // step 0 is always full attention
        decisions.push(
          ...(await searchStep(
            target.model,
            runtime,
            step,
            modelInput,
            timestep,
            conditioning,
            thresholds,
            candidates,
            counters,
            options.reuseHiddenStates ?? true,
          )),
        );
        const elapsed = (performance.now() - started) / 1000;
        options.onProgress?.({
          step,
          steps,
          elapsedSeconds: elapsed,
          etaSeconds: (elapsed / step) * (steps - 1 - step),
        });
      },
    });
  } finally {
    runtime.release();
  }
  const seconds = (performance.now() - started) / 1000;
  const cost = planCost(plan, target.costShape);
  const file: PlanFile = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: { family: target.family, configHash: target.configHash, layers, tokens },
    steps,
    sampler,
    cfgScale,
    window,
    threshold,
    nCalib: calibrationCount,
    seed,
    candidates: [...candidates],
    methods: plan.methods,
    attentionMacsFraction: cost.attentionMacsFraction,
    calibrationSeconds: seconds,
    createdAt: new Date().toISOString(),
  };
  return new CompressedSampler(target, file, { decisions, counters, seconds });
}
