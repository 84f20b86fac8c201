/**
 * The greedy calibration on the tiny random golden DiT: deterministic, and every accepted
 * choice really had a loss under its layer's threshold when recomputed by plain forward passes.
 */

import { deepEqual } from "node:assert/strict";
import { compress } from "../calibrate/compress.ts";
import { layerThresholds } from "../calibrate/greedy_search.ts";
import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { fullPlan } from "../src/compression/plan.ts";
import { meanClippedRelativeErrorCpu } from "../src/ops/loss.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

const STEPS = 6;
const DELTA = 0.08;
const CALIB = { labels: [3, 8], seed: 11 };

Deno.test("calibration is deterministic and its accepted choices are under threshold", async () => {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  const options = { threshold: DELTA, steps: STEPS, window: 12 };
  const first = await compress(model, CALIB, options);
  const second = await compress(model, CALIB, options);
  deepEqual(first.planFile.methods, second.planFile.methods);
  deepEqual(
    first.calibration!.decisions.map((d) => d.trials),
    second.calibration!.decisions.map((d) => d.trials),
  );
  // The search without hidden-state reuse must decide exactly the same with the same losses.
  const naive = await compress(model, CALIB, { ...options, reuseHiddenStates: false });
  deepEqual(naive.planFile.methods, first.planFile.methods);
  deepEqual(
    naive.calibration!.decisions.map((d) => d.trials),
    first.calibration!.decisions.map((d) => d.trials),
  );
  if (!(first.calibration!.counters.blocks < naive.calibration!.counters.blocks)) {
    throw new Error("reusing hidden states did not save block evaluations");
  }
  const histogram = first.histogram();
  if (histogram.FULL_ATTN === STEPS * model.layers) {
    throw new Error("nothing was compressed at δ=0.08");
  }

  // Replay the calibration trajectory with the final plan and recompute, with whole forward
  // passes (not the staged search), the loss of every accepted layer choice.
  const final = first.planFile.methods;
  const thresholds = layerThresholds(model.layers, DELTA);
  const working = fullPlan(model.layers, STEPS, 12);
  const runtime = new AttentionRuntime(working, {
    storeResidualAtEveryFullStep: true,
    keepEveryOutput: true,
  });
  let checked = 0;
  await sampleDiT(model, {
    labels: CALIB.labels,
    seed: CALIB.seed,
    steps: STEPS,
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
        const recorded = first.calibration!.decisions.find((d) => d.step === step && d.layer === l)!
          .loss!;
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
  model.release();
});
