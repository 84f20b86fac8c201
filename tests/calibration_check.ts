/**
 * Checks every family's calibration the same way: it is deterministic, the search without
 * hidden-state reuse decides the same, and every accepted choice really had a loss under its
 * layer's threshold when recomputed with whole forward passes (not the staged search) along
 * the calibration trajectory under the final plan.
 */

import { deepEqual } from "node:assert/strict";
import { compress, type CompressOptions } from "../calibrate/compress.ts";
import type { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import type { CompressionTarget, SeededCalibration } from "../calibrate/compression_target.ts";
import { layerThresholds } from "../calibrate/greedy_search.ts";
import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { fullPlan } from "../src/compression/plan.ts";
import { meanClippedRelativeErrorCpu } from "../src/ops/loss.ts";
import type { Conditioning } from "../src/sampling/sample_loop.ts";

/** Calibrates twice and without reuse; returns the first run after checking all agree. */
export async function calibrateThrice<Calib extends SeededCalibration, S, C extends Conditioning>(
  target: CompressionTarget<Calib, S, C>,
  calib: Calib,
  options: CompressOptions,
): Promise<CompressedSampler<S>> {
  const first = await compress(target, calib, options);
  const second = await compress(target, calib, options);
  const naive = await compress(target, calib, { ...options, reuseHiddenStates: false });
  for (const other of [second, naive]) {
    deepEqual(other.planFile.methods, first.planFile.methods);
    deepEqual(
      other.calibration!.decisions.map((d) => d.trials),
      first.calibration!.decisions.map((d) => d.trials),
    );
  }
  if (!(first.calibration!.counters.blocks < naive.calibration!.counters.blocks)) {
    throw new Error("reusing hidden states did not save block evaluations");
  }
  const { FULL_ATTN } = first.histogram();
  if (FULL_ATTN === first.planFile.steps * target.layers) {
    throw new Error(`nothing was compressed at δ=${options.threshold}`);
  }
  return first;
}

/** Recomputes each accepted choice's loss; returns how many were checked (at least one). */
export async function checkAcceptedChoices<
  Calib extends SeededCalibration,
  S,
  C extends Conditioning,
>(
  target: CompressionTarget<Calib, S, C>,
  calib: Calib,
  compressed: CompressedSampler<S>,
): Promise<number> {
  const plan = compressed.planFile;
  const model = target.model;
  const final = plan.methods;
  const thresholds = layerThresholds(model.layers, plan.threshold);
  const working = fullPlan(model.layers, plan.steps, plan.window);
  const runtime = new AttentionRuntime(working, {
    storeResidualAtEveryFullStep: true,
    keepEveryOutput: true,
  });
  let checked = 0;
  await target.runCalibration(calib, {
    steps: plan.steps,
    sampler: plan.sampler,
    cfgScale: plan.cfgScale,
    seed: calib.seed ?? 0,
    runtime,
    beforeStep: async ({ step, timestep, modelInput, conditioning }) => {
      const forward = async (column: AttentionMethod[]) => {
        column.forEach((m, l) => (working.methods[l][step] = m));
        runtime.planChanged();
        runtime.step = step;
        runtime.writeCaches = false;
        const out = model.forward(modelInput, timestep, conditioning, runtime);
        runtime.writeCaches = true;
        const values = await out.toFloat32();
        out.release();
        return values;
      };
      const full = Array<AttentionMethod>(model.layers).fill("FULL_ATTN");
      const reference = await forward(full);
      for (let l = 0; l < model.layers; l++) {
        const chosen = final[l][step];
        if (chosen === "FULL_ATTN") continue;
        const column = full.map((_, k) => (k <= l ? final[k][step] : "FULL_ATTN"));
        const loss = meanClippedRelativeErrorCpu(reference, await forward(column));
        if (!(loss < thresholds[l])) {
          throw new Error(`step ${step} layer ${l}: ${chosen} has loss ${loss} ≥ ${thresholds[l]}`);
        }
        const recorded = compressed.calibration!.decisions.find((d) =>
          d.step === step && d.layer === l
        )!.loss!;
        if (Math.abs(loss - recorded) > 1e-4 * Math.max(recorded, 1e-3)) {
          throw new Error(
            `step ${step} layer ${l}: recomputed loss ${loss}, search recorded ${recorded}`,
          );
        }
        checked++;
      }
      final.forEach((row, l) => (working.methods[l][step] = row[step]));
      runtime.planChanged();
    },
  });
  runtime.release();
  if (checked === 0) throw new Error("no accepted choice was checked");
  return checked;
}
