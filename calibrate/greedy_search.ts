/**
 * The greedy per-step, per-layer method search of DiTFastAttn (docs/DESIGN.md §5).
 *
 * Work reuse: the step's uncompressed output is computed once; the hidden states entering
 * layer l under the methods already chosen for layers < l are kept, so a trial of layer l
 * runs only blocks l..L−1 (plus the final layer). A trial that is accepted hands its hidden
 * state after block l on to layer l + 1.
 */

import type { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { meanClippedRelativeError } from "../src/ops/loss.ts";
import type { Conditioning } from "../src/sampling/sample_loop.ts";
import type { Tensor } from "../src/tensor.ts";
import type { StagedDenoiser, StagedPass } from "../src/sampling/staged_model.ts";

export interface Trial {
  method: AttentionMethod;
  loss: number;
}

/** What the search decided for one layer at one step, with every loss it measured. */
export interface Decision {
  step: number;
  layer: number;
  method: AttentionMethod;
  threshold: number;
  /** Loss of the chosen method (null when no candidate passed and FULL_ATTN stays). */
  loss: number | null;
  trials: Trial[];
}

export interface SearchCounters {
  /** Transformer blocks evaluated by the search. */
  blocks: number;
  /** Blocks a search without reuse would evaluate: (1 + trials) full forwards. */
  naiveBlocks: number;
  /** Losses read back. */
  losses: number;
}

/** Threshold of layer l: (l + 1)/L · δ. */
export function layerThresholds(layers: number, delta: number): number[] {
  return Array.from({ length: layers }, (_, l) => ((l + 1) / layers) * delta);
}

function runBlocks<C extends Conditioning>(
  model: StagedDenoiser<C>,
  pass: StagedPass,
  from: number,
  h: Tensor,
  runtime: AttentionRuntime,
  counters: SearchCounters,
): Tensor {
  let current = h.reshape(h.shape);
  for (let l = from; l < model.layers; l++) {
    const next = model.block(pass, l, current, runtime);
    current.release();
    current = next;
    counters.blocks++;
  }
  const out = model.end(pass, current);
  current.release();
  return out;
}

/**
 * Chooses plan.methods[l][step] for every layer (in place) and returns the decisions. The
 * runtime's caches hold the real trajectory up to this step; trials leave them untouched.
 */
export async function searchStep<C extends Conditioning>(
  model: StagedDenoiser<C>,
  runtime: AttentionRuntime,
  step: number,
  input: Tensor,
  timestep: number,
  conditioning: C,
  thresholds: readonly number[],
  candidates: readonly AttentionMethod[],
  counters: SearchCounters,
  /** false: every trial runs all blocks from the first (to measure what reuse saves). */
  reuseHiddenStates = true,
): Promise<Decision[]> {
  const methods = runtime.plan.methods;
  const layers = model.layers;
  for (let l = 0; l < layers; l++) methods[l][step] = "FULL_ATTN";
  runtime.planChanged();
  runtime.step = step;
  runtime.writeCaches = false;
  const pass = model.begin(input, timestep, conditioning);
  const decisions: Decision[] = [];
  try {
    const reference = runBlocks(model, pass, 0, pass.hidden, runtime, counters);
    counters.naiveBlocks += layers;
    let h = pass.hidden.reshape(pass.hidden.shape);
    for (let l = 0; l < layers; l++) {
      const trials: Trial[] = [];
      let accepted: { method: AttentionMethod; loss: number; next: Tensor } | null = null;
      for (const method of candidates) {
        methods[l][step] = method;
        runtime.planChanged();
        let next: Tensor;
        if (reuseHiddenStates) {
          next = model.block(pass, l, h, runtime);
          counters.blocks++;
        } else {
          next = pass.hidden.reshape(pass.hidden.shape);
          for (let k = 0; k <= l; k++) {
            const after = model.block(pass, k, next, runtime);
            next.release();
            next = after;
            counters.blocks++;
          }
        }
        const out = runBlocks(model, pass, l + 1, next, runtime, counters);
        counters.naiveBlocks += layers;
        const lossTensor = meanClippedRelativeError(reference, out);
        out.release();
        const loss = (await lossTensor.toFloat32())[0];
        lossTensor.release();
        counters.losses++;
        trials.push({ method, loss });
        if (loss < thresholds[l]) {
          accepted = { method, loss, next };
          break;
        }
        next.release();
      }
      let next: Tensor;
      if (accepted) {
        next = accepted.next;
      } else {
        methods[l][step] = "FULL_ATTN";
        runtime.planChanged();
        next = model.block(pass, l, h, runtime);
        counters.blocks++;
      }
      h.release();
      h = next;
      decisions.push({
        step,
        layer: l,
        method: methods[l][step],
        threshold: thresholds[l],
        loss: accepted?.loss ?? null,
        trials,
      });
    }
    h.release();
    reference.release();
  } finally {
    pass.release();
    runtime.writeCaches = true;
  }
  return decisions;
}
