/**
 * DiTFastAttn on STDiT2's spatial attention (tiny golden model): the calibration is
 * deterministic and its accepted choices are under threshold when recomputed with whole forward
 * passes; a band covering whole frames reproduces full attention; CFG sharing over identical
 * halves changes nothing (rows of [B·T, S, C] are cond first); plans cost frames × S tokens.
 */

import { calibrateThrice, checkAcceptedChoices } from "./calibration_check.ts";
import { deepEqual } from "node:assert/strict";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { stdit2Target } from "../calibrate/targets/mod.ts";
import { latentVideo, sampleSTDiT2, videoConditioning } from "../models/stdit2/sample.ts";
import { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import { fullPlan } from "../src/compression/plan.ts";
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
  const first = await calibrateThrice(target, calib, options);
  const { model: planModel, window } = first.planFile;
  deepEqual([planModel.family, planModel.tokens, window], ["stdit2", 24, 3]);
  console.log(`δ=${DELTA}: ${JSON.stringify(first.histogram())}`);
  await checkAcceptedChoices(target, calib, first);

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
