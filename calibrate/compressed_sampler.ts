/** A model bound to a calibrated plan: samples with it, reports its cost, saves and loads it. */

import { configHash } from "../models/dit_config.ts";
import { ditCostShape } from "../models/dit_cost.ts";
import type { DiTModel } from "../models/dit.ts";
import { sampleDiT } from "../models/dit_sampler.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import {
  type AttentionPlan,
  methodHistogram,
  type PlanCost,
  planCost,
} from "../src/compression/plan.ts";
import type { LoopResult } from "../src/sampling/sample_loop.ts";
import type { Decision, SearchCounters } from "./greedy_search.ts";
import {
  checkPlanFits,
  loadPlan,
  type PlanFile,
  planOf,
  savePlan,
  toXDiTPlan,
} from "./plan_file.ts";

/** Everything the calibration measured (absent for a plan loaded from a file). */
export interface CalibrationLog {
  decisions: Decision[];
  counters: SearchCounters;
  seconds: number;
}

export interface CompressedSampleOptions {
  labels: readonly number[];
  seed?: number;
  /** Must equal the plan's step count when given. */
  steps?: number;
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
}

export class CompressedSampler {
  constructor(
    readonly model: DiTModel,
    readonly planFile: PlanFile,
    readonly calibration?: CalibrationLog,
  ) {
    checkPlanFits(
      planFile,
      { configHash: configHash(model.config), layers: model.layers },
      planFile.steps,
    );
  }

  /** Loads a plan file for `model` (refused when it was made for another model). */
  static async load(model: DiTModel, path: string): Promise<CompressedSampler> {
    const file = await loadPlan(path);
    checkPlanFits(
      file,
      { configHash: configHash(model.config), layers: model.layers },
      file.steps,
      path,
    );
    return new CompressedSampler(model, file);
  }

  get plan(): AttentionPlan {
    return planOf(this.planFile);
  }

  /** Attention, projection and whole-model MACs of the plan against full attention. */
  cost(): PlanCost {
    return planCost(this.plan, ditCostShape(this.model.config, this.planFile.model.tokens));
  }

  /** Layer-steps per method. */
  histogram(): Record<AttentionMethod, number> {
    return methodHistogram(this.plan);
  }

  /** Samples with the plan, using the steps, sampler and guidance scale it was calibrated for. */
  sample(options: CompressedSampleOptions): Promise<LoopResult> {
    if (options.steps !== undefined) {
      checkPlanFits(
        this.planFile,
        { configHash: this.planFile.model.configHash, layers: this.model.layers },
        options.steps,
      );
    }
    return sampleDiT(this.model, {
      labels: options.labels,
      seed: options.seed,
      noise: options.noise,
      steps: this.planFile.steps,
      sampler: this.planFile.sampler,
      cfgScale: this.planFile.cfgScale,
      plan: this.plan,
      onStep: options.onStep,
    });
  }

  save(path: string): Promise<void> {
    return savePlan(path, this.planFile);
  }

  /** The plan in xDiT's `{"block0": {"step0": ...}}` form. */
  toXDiT(): Record<string, Record<string, AttentionMethod>> {
    return toXDiTPlan(this.planFile);
  }
}
