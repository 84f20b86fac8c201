/** A compression plan (methods[layer][step]), its validation, cache schedule and cost. */

import { PlanError } from "../errors.ts";
import {
  type AttentionMethod,
  isAttentionMethod,
  isCfgShareMethod,
  isFullMethod,
  isWindowMethod,
} from "./methods.ts";

export interface AttentionPlan {
  /** Half-width w of the 1D band |i − j| ≤ w over flattened tokens. */
  window: number;
  /** methods[layer][step]. */
  methods: AttentionMethod[][];
}

/** An all-FULL_ATTN plan. */
export function fullPlan(layers: number, steps: number, window: number): AttentionPlan {
  return {
    window,
    methods: Array.from({ length: layers }, () => Array<AttentionMethod>(steps).fill("FULL_ATTN")),
  };
}

/**
 * Checks a plan before sampling starts: layers × steps shape, known method names, step 0 full,
 * every window step preceded by a full step of its layer, and share methods only with a CFG
 * batch (even, [cond; uncond]).
 */
export function validatePlan(
  plan: AttentionPlan,
  expect: { layers: number; steps: number; batch?: number; guided?: boolean },
): void {
  const { methods } = plan;
  if (!Number.isInteger(plan.window) || plan.window < 0) {
    throw new PlanError(`plan window must be a non-negative integer, got ${plan.window}`);
  }
  if (!Array.isArray(methods) || methods.length !== expect.layers) {
    throw new PlanError(
      `plan has ${
        Array.isArray(methods) ? methods.length : "no"
      } layers, the model has ${expect.layers}`,
    );
  }
  methods.forEach((row, layer) => {
    if (!Array.isArray(row) || row.length !== expect.steps) {
      throw new PlanError(
        `plan layer ${layer} has ${
          Array.isArray(row) ? row.length : "no"
        } steps, sampling uses ${expect.steps}`,
      );
    }
    let sawFull = false;
    row.forEach((method, step) => {
      if (!isAttentionMethod(method)) {
        throw new PlanError(
          `plan layer ${layer} step ${step}: unknown method ${JSON.stringify(method)}`,
        );
      }
      if (step === 0 && method !== "FULL_ATTN") {
        throw new PlanError(`plan layer ${layer} step 0 is ${method}; step 0 must be FULL_ATTN`);
      }
      if (isWindowMethod(method) && !sawFull) {
        throw new PlanError(
          `plan layer ${layer} step ${step}: ${method} has no earlier full-attention step to take the residual from`,
        );
      }
      if (isCfgShareMethod(method)) {
        if (expect.guided === false) {
          throw new PlanError(
            `plan layer ${layer} step ${step}: ${method} needs classifier-free guidance (cfg scale > 1)`,
          );
        }
        if (expect.batch !== undefined && expect.batch % 2 !== 0) {
          throw new PlanError(
            `plan layer ${layer} step ${step}: ${method} shares between CFG halves but the batch (${expect.batch}) is odd`,
          );
        }
      }
      if (isFullMethod(method)) sawFull = true;
    });
  });
}

/**
 * residualWrites[l][t]: layer l computes and stores R = full − window at step t, because it is
 * a full step and a window step follows before the next full step.
 */
export function residualWrites(methods: readonly (readonly AttentionMethod[])[]): boolean[][] {
  return methods.map((row) =>
    row.map((method, step) => {
      if (!isFullMethod(method)) return false;
      for (let later = step + 1; later < row.length; later++) {
        if (isFullMethod(row[later])) return false;
        if (isWindowMethod(row[later])) return true;
      }
      return false;
    })
  );
}

/** Keys each query sees in a band of half-width w over N tokens (2w + 1, at most N). */
export function windowKeysPerQuery(tokens: number, window: number): number {
  return Math.min(2 * window + 1, tokens);
}

export interface PlanCost {
  /** Attention-core MACs (QKᵀ and AV) of the plan as a fraction of all-FULL. */
  attentionMacsFraction: number;
  attentionMacs: number;
  fullAttentionMacs: number;
  /** q, k, v and out projections, whose MACs shrink only by sharing and output reuse. */
  projectionMacs: number;
  fullProjectionMacs: number;
  /** Whole-model MACs per sample (the plan's attention and projections, the rest unchanged). */
  modelMacs: number;
  fullModelMacs: number;
}

export interface CostShape {
  /** Tokens one compressible self-attention sees (one frame's for video models). */
  tokens: number;
  /** Compressible self-attentions per sample and layer (frames for video models; default 1). */
  attentionsPerSample?: number;
  /** Model width C (heads · head dim). */
  width: number;
  /** MACs per sample and step outside self-attention (MLPs, adaLN, embeddings, final layer). */
  otherMacsPerStep: number;
}

/**
 * Cost of a plan per sample (docs/DESIGN.md §4): per layer-step 2·N·keys·C attention MACs, halved under
 * CFG sharing, with keys = 2w+1 for window steps, plus the window pass at full steps that write
 * the residual; OUTPUT_SHARE costs nothing.
 */
export function planCost(plan: AttentionPlan, shape: CostShape): PlanCost {
  const { tokens: n, width: c } = shape;
  const instances = shape.attentionsPerSample ?? 1;
  const windowKeys = windowKeysPerQuery(n, plan.window);
  const writes = residualWrites(plan.methods);
  const fullCore = 2 * n * n * c * instances;
  const windowCore = 2 * n * windowKeys * c * instances;
  const projection = 4 * n * c * c * instances;
  let attention = 0;
  let projections = 0;
  let layerSteps = 0;
  plan.methods.forEach((row, l) =>
    row.forEach((method, t) => {
      layerSteps++;
      const share = isCfgShareMethod(method) ? 0.5 : 1;
      if (method === "OUTPUT_SHARE") return;
      projections += projection * share;
      attention += (isFullMethod(method) ? fullCore : windowCore) * share;
      if (writes[l][t]) attention += windowCore * share;
    })
  );
  const steps = plan.methods[0]?.length ?? 0;
  const other = shape.otherMacsPerStep * steps;
  return {
    attentionMacsFraction: attention / (fullCore * layerSteps),
    attentionMacs: attention,
    fullAttentionMacs: fullCore * layerSteps,
    projectionMacs: projections,
    fullProjectionMacs: projection * layerSteps,
    modelMacs: attention + projections + other,
    fullModelMacs: fullCore * layerSteps + projection * layerSteps + other,
  };
}

/** Counts layer-steps per method. */
export function methodHistogram(plan: AttentionPlan): Record<AttentionMethod, number> {
  const counts: Record<AttentionMethod, number> = {
    FULL_ATTN: 0,
    FULL_ATTN_CFG_SHARE: 0,
    RESIDUAL_WINDOW_ATTN: 0,
    RESIDUAL_WINDOW_ATTN_CFG_SHARE: 0,
    OUTPUT_SHARE: 0,
  };
  for (const row of plan.methods) for (const m of row) counts[m]++;
  return counts;
}
