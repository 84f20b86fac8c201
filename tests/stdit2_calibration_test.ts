/**
 * DiTFastAttn on STDiT2's spatial attention (tiny golden model): the calibration is
 * deterministic and its accepted choices are under threshold when recomputed with whole forward
 * passes; a band covering whole frames reproduces full attention; CFG sharing over identical
 * halves changes nothing (rows of [B·T, S, C] are cond first); plans cost frames × S tokens.
 */

import { deepEqual } from "node:assert/strict";
import { compress } from "../calibrate/compress.ts";
import { layerThresholds } from "../calibrate/greedy_search.ts";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { stdit2Target } from "../calibrate/targets/mod.ts";
import { latentVideo, sampleSTDiT2, videoConditioning } from "../models/stdit2/sample.ts";
import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { fullPlan } from "../src/compression/plan.ts";
import { meanClippedRelativeErrorCpu } from "../src/ops/loss.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath } from "./golden_files.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";
import { TINY_STDIT2, writeTinyPrompts } from "./stdit2_fixtures.ts";
import { localFolder, readPromptEmbeddingFile } from "../deno.ts";

const STEPS = 6;
const DELTA = 0.1;
/** 3 frames of 64 × 96 px → latents 8 × 12 → 4 × 6 = 24 tokens per frame, window 3. */
const VIDEO = { frames: 3, height: 64, width: 96, fps: 8 };
const SEED = 11;

async function setup() {
  const model = await STDiT2Model.load(await testGpu(), localFolder(goldenPath(TINY_STDIT2)));
  const dir = await Deno.makeTempDir({ prefix: "stdit2-calib-" });
  const paths = await writeTinyPrompts(dir, 2);
  const prompts = await Promise.all(paths.map((p) => readPromptEmbeddingFile(p, 32)));
  await Deno.remove(dir, { recursive: true });
  return { model, prompts };
}

Deno.test("STDiT2 calibration is deterministic and its accepted choices are under threshold", async () => {
  const { model, prompts } = await setup();
  const target = stdit2Target(model, VIDEO);
  const options = { threshold: DELTA, steps: STEPS };
  const calib = { prompts, seed: SEED };
  const first = await compress(target, calib, options);
  const second = await compress(target, calib, options);
  deepEqual(first.planFile.methods, second.planFile.methods);
  deepEqual(
    first.calibration!.decisions.map((d) => d.trials),
    second.calibration!.decisions.map((d) => d.trials),
  );
  const naive = await compress(target, calib, { ...options, reuseHiddenStates: false });
  deepEqual(naive.planFile.methods, first.planFile.methods);
  const { model: planModel, window } = first.planFile;
  deepEqual([planModel.family, planModel.tokens, window], ["stdit2", 24, 3]);
  const histogram = first.histogram();
  console.log(`δ=${DELTA}: ${JSON.stringify(histogram)}`);
  if (histogram.FULL_ATTN === STEPS * model.layers) {
    throw new Error(`nothing compressed at δ=${DELTA}`);
  }

  // Replay the calibration trajectory with the final plan and recompute, with whole forward
  // passes, the loss of every accepted layer choice.
  const final = first.planFile.methods;
  const thresholds = layerThresholds(model.layers, DELTA);
  const working = fullPlan(model.layers, STEPS, window);
  const runtime = new AttentionRuntime(working, {
    storeResidualAtEveryFullStep: true,
    keepEveryOutput: true,
  });
  let checked = 0;
  await sampleSTDiT2(model, {
    prompts,
    ...VIDEO,
    seed: SEED,
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
        if (final[l][step] === "FULL_ATTN") continue;
        const column = full.map((_, k) => (k <= l ? final[k][step] : "FULL_ATTN"));
        const loss = meanClippedRelativeErrorCpu(reference, await forward(column));
        if (!(loss < thresholds[l])) {
          throw new Error(`step ${step} layer ${l}: ${final[l][step]} loss ${loss} ≥ threshold`);
        }
        const recorded = first.calibration!.decisions.find((d) => d.step === step && d.layer === l)!
          .loss!;
        if (Math.abs(loss - recorded) > 1e-4 * Math.max(recorded, 1e-3)) {
          throw new Error(
            `step ${step} layer ${l}: recomputed ${loss}, search recorded ${recorded}`,
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

  // The plan samples, deterministically, and costs frames × the per-frame attention.
  const a = await first.sample({ prompts, seed: 2 });
  const b = await first.sample({ prompts, seed: 2 });
  assertRelativeError(b.samples, a.samples, 0, "plan sampling");
  const cost = first.cost();
  const target0 = target;
  deepEqual([target0.costShape.tokens, target0.costShape.attentionsPerSample], [24, 3]);
  if (!(cost.attentionMacsFraction < 1) || cost.fullAttentionMacs !== 2 * 24 * 24 * 96 * 3 * 12) {
    throw new Error(`cost ${JSON.stringify(cost)}`);
  }
  model.release();
});

Deno.test("STDiT2 window attention over a band covering each frame equals full attention", async () => {
  const { model, prompts } = await setup();
  const common = { prompts, ...VIDEO, steps: 4, seed: 1 };
  const full = await sampleSTDiT2(model, common);
  // |i − j| ≤ 23 covers all 24 tokens of a frame: window = full and the residual is zero.
  const plan = fullPlan(model.layers, 4, 23);
  for (const row of plan.methods) row.fill("RESIDUAL_WINDOW_ATTN", 1);
  const windowed = await sampleSTDiT2(model, { ...common, plan });
  assertRelativeError(windowed.samples, full.samples, 1e-5, "window = full");
  model.release();
});

Deno.test("STDiT2 CFG sharing over identical halves changes nothing: frames are cond-first", async () => {
  const { model, prompts } = await setup();
  const video = latentVideo(VIDEO);
  // A batch with the prompt in both halves: the "null" half equals the cond half.
  const twice = videoConditioning(model, [prompts[0], prompts[0]], video, false);
  const shape = [2, 4, video.frames, video.latentHeight, video.latentWidth];
  const half = randomArray(shape.slice(1).reduce((a, d) => a * d, 1), 9);
  const x = Tensor.fromArray(model.gpu, new Float32Array([...half, ...half]), shape);
  const full = await model.forward(x, 500, twice).toFloat32();
  for (const method of ["FULL_ATTN_CFG_SHARE", "RESIDUAL_WINDOW_ATTN_CFG_SHARE"] as const) {
    const plan = fullPlan(model.layers, 2, 3);
    for (const row of plan.methods) row[1] = method;
    const runtime = new AttentionRuntime(plan, { storeResidualAtEveryFullStep: true });
    model.forward(x, 500, twice, runtime).release(); // step 0 stores the residuals
    runtime.step = 1;
    const shared = model.forward(x, 500, twice, runtime);
    assertRelativeError(await shared.toFloat32(), full, 1e-6, method);
    shared.release();
    runtime.release();
  }
  x.release();
  twice.release();
  model.release();
});
