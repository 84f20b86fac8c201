/**
 * `compress(model, calibData, opts)`: runs the greedy calibration on a calibration batch and
 * returns a sampler that samples with the resulting plan.
 */

import { configHash } from "../models/dit_config.ts";
import { ditCostShape } from "../models/dit_cost.ts";
import type { DiTModel } from "../models/dit.ts";
import { sampleDiT } from "../models/dit_sampler.ts";
import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import {
  type AttentionMethod,
  CANDIDATE_METHODS,
  isAttentionMethod,
  isCfgShareMethod,
} from "../src/compression/methods.ts";
import { fullPlan, planCost } from "../src/compression/plan.ts";
import { OptionError } from "../src/errors.ts";
import { Xoshiro128 } from "../src/sampling/prng.ts";
import { isGuided } from "../src/sampling/sample_loop.ts";
import type { SamplerName } from "../src/sampling/scheduler.ts";
import { CompressedSampler } from "./compressed_sampler.ts";
import {
  type Decision,
  layerThresholds,
  type SearchCounters,
  searchStep,
} from "./greedy_search.ts";
import { PLAN_FORMAT, PLAN_VERSION, type PlanFile } from "./plan_file.ts";

/** Calibration conditions: explicit class labels, or a count drawn from a seeded generator. */
export interface CalibrationData {
  labels?: readonly number[];
  /** Number of labels to draw when `labels` is absent (default 8). */
  count?: number;
  /** Seed of the label draw and of the calibration noise (default 0). */
  seed?: number;
}

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

function drawLabels(count: number, classes: number, seed: number): number[] {
  const rng = new Xoshiro128(seed ^ 0x5eed1abe);
  return Array.from({ length: count }, () => rng.nextUint32() % classes);
}

/** Checks the options before any GPU work. */
function checkOptions(options: CompressOptions, calib: CalibrationData): void {
  const { threshold } = options;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold <= 0) {
    throw new OptionError(`threshold δ must be a positive number, got ${threshold}`);
  }
  if (calib.labels === undefined) {
    const count = calib.count ?? 8;
    if (!Number.isInteger(count) || count < 1) {
      throw new OptionError(`n_calib must be an integer ≥ 1, got ${count}`);
    }
  } else if (calib.labels.length < 1) {
    throw new OptionError("calibration needs at least one label");
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
 * Calibrates a compression plan for `model` and returns a sampler using it.
 *
 * @example
 * ```ts
 * const model = await DiTModel.load(await getGpu(), "models/tiny-fmnist");
 * const sampler = await compress(model, { count: 8, seed: 1 }, { threshold: 0.05, steps: 20 });
 * console.log(sampler.cost().attentionMacsFraction);
 * const images = await sampler.sample({ labels: [0, 7], seed: 3 });
 * await sampler.save("plans/fmnist-0.05.json");
 * ```
 */
export async function compress(
  model: DiTModel,
  calibData: CalibrationData,
  options: CompressOptions,
): Promise<CompressedSampler> {
  checkOptions(options, calibData);
  const { threshold, steps = 20, sampler = "ddim", cfgScale = 4 } = options;
  const seed = calibData.seed ?? 0;
  const labels = calibData.labels
    ? [...calibData.labels]
    : drawLabels(calibData.count ?? 8, model.config.numClasses, seed);
  const tokens = model.tokens();
  const window = options.window ?? Math.floor(tokens / 8);
  const guided = isGuided(cfgScale);
  const candidates = (options.candidates ?? CANDIDATE_METHODS).filter((m) =>
    guided || !isCfgShareMethod(m)
  );
  const plan = fullPlan(model.layers, steps, window);
  const runtime = new AttentionRuntime(plan, {
    storeResidualAtEveryFullStep: true,
    keepEveryOutput: true,
  });
  const thresholds = layerThresholds(model.layers, threshold);
  const counters: SearchCounters = { blocks: 0, naiveBlocks: 0, losses: 0 };
  const decisions: Decision[] = [];
  const started = performance.now();
  try {
    await sampleDiT(model, {
      labels,
      steps,
      cfgScale,
      seed,
      sampler,
      runtime,
      beforeStep: async ({ step, timestep, modelInput, conditioning }) => {
        if (step === 0) return; // step 0 is always full attention
        decisions.push(
          ...(await searchStep(
            model,
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
  const cost = planCost(plan, ditCostShape(model.config, tokens));
  const file: PlanFile = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: {
      family: model.family,
      configHash: configHash(model.config),
      layers: model.layers,
      tokens,
    },
    steps,
    sampler,
    cfgScale,
    window,
    threshold,
    nCalib: labels.length,
    seed,
    candidates: [...candidates],
    methods: plan.methods,
    attentionMacsFraction: cost.attentionMacsFraction,
    calibrationSeconds: seconds,
    createdAt: new Date().toISOString(),
  };
  return new CompressedSampler(model, file, { decisions, counters, seconds });
}
