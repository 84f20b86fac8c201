/** A model bound to a calibrated plan: samples with it, reports its cost, saves and loads it. */

import type { AttentionMethod } from "../src/compression/methods.ts";
import {
  type AttentionPlan,
  methodHistogram,
  type PlanCost,
  planCost,
} from "../src/compression/plan.ts";
import type { LoopResult } from "../src/sampling/sample_loop.ts";
import type { CompressionTarget } from "./compression_target.ts";
import type { Decision, SearchCounters } from "./greedy_search.ts";
import {
  checkPlanFits,
  checkPlanValue,
  type PlanFile,
  planOf,
  planToJson,
  toXDiTPlan,
} from "../src/compression/plan_file.ts";

/** Everything the calibration measured (absent for a plan loaded from a file). */
export interface CalibrationLog {
  decisions: Decision[];
  counters: SearchCounters;
  seconds: number;
}

// deno-lint-ignore no-explicit-any
type AnyTarget<SampleOptions> = CompressionTarget<any, SampleOptions>;

/** The fields of a target a plan must match. */

export class CompressedSampler<SampleOptions> {
  constructor(
    readonly target: AnyTarget<SampleOptions>,
    readonly planFile: PlanFile,
    readonly calibration?: CalibrationLog,
  ) {
    checkPlanFits(planFile, target, planFile.steps);
  }

  /** A plan (from a file or a `compress()` run) bound to `target` (refused if made for another). */
  static fromPlan<SampleOptions>(
    // deno-lint-ignore no-explicit-any
    target: CompressionTarget<any, SampleOptions>,
    plan: PlanFile,
  ): CompressedSampler<SampleOptions> {
    return new CompressedSampler(target, checkPlanValue(plan));
  }

  get plan(): AttentionPlan {
    return planOf(this.planFile);
  }

  /** Attention, projection and whole-model MACs of the plan against full attention. */
  cost(): PlanCost {
    return planCost(this.plan, this.target.costShape);
  }

  /** Layer-steps per method. */
  histogram(): Record<AttentionMethod, number> {
    return methodHistogram(this.plan);
  }

  /**
   * Samples with the plan, using the steps, sampler and guidance scale it was calibrated for
   * (a `steps` option, when present, must equal the plan's).
   */
  sample(options: SampleOptions): Promise<LoopResult> {
    const steps = (options as { steps?: unknown }).steps;
    if (typeof steps === "number") checkPlanFits(this.planFile, this.target, steps);
    const { steps: planSteps, sampler, cfgScale } = this.planFile;
    return this.target.sample(options, { steps: planSteps, sampler, cfgScale, plan: this.plan });
  }

  /** The plan file as JSON text (save it with the Deno entry's `savePlan`, or download it). */
  toJson(): string {
    return planToJson(this.planFile);
  }

  /** The plan in xDiT's `{"block0": {"step0": ...}}` form. */
  toXDiT(): Record<string, Record<string, AttentionMethod>> {
    return toXDiTPlan(this.planFile);
  }
}
