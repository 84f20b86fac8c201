/**
 * DiTFastAttn on PixArt (tiny golden model, non-square latent): the greedy calibration is
 * deterministic, its accepted choices are under threshold when recomputed with whole forward
 * passes, hand-made plans sample, and plans are bound to the resolution they were made for.
 */

import { calibrateThrice, checkAcceptedChoices } from "./calibration_check.ts";
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { compress } from "../calibrate/compress.ts";
import { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import { pixartTarget } from "../calibrate/targets/mod.ts";
import { samplePixArt } from "../models/pixart/sample.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { fullPlan, planCost } from "../src/compression/plan.ts";
import { OptionError, PlanError } from "../src/errors.ts";
import { assertRelativeError } from "./helpers.ts";
import { loadTinyPixArt, randomPrompt } from "./pixart_fixtures.ts";
import { loadPlan, savePlan } from "../deno.ts";

const STEPS = 5;
const DELTA = 0.08;
/** Latent 16×12 (vae factor 1 makes pixels = latents): 8×6 = 48 tokens, window 6. */
const SIZE = { height: 16, width: 12, vaeScaleFactor: 1 };
const WINDOW = 6;
const CALIB = {
  prompts: [randomPrompt(8, 6, 31), randomPrompt(8, 8, 32)],
  negative: randomPrompt(8, 1, 33),
  seed: 4,
};

async function rejects(
  run: () => Promise<unknown>,
  kind: new (...a: never[]) => Error,
  pattern: RegExp,
): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!(e instanceof kind)) throw new Error(`expected ${kind.name}, got ${e}`);
    if (!pattern.test((e as Error).message)) {
      throw new Error(`"${(e as Error).message}" does not match ${pattern}`);
    }
    return;
  }
  throw new Error(`no ${kind.name} (${pattern})`);
}

Deno.test("PixArt calibration is deterministic and its accepted choices are under threshold", async () => {
  const model = await loadTinyPixArt();
  const target = pixartTarget(model, SIZE);
  const options = { threshold: DELTA, steps: STEPS };
  const first = await calibrateThrice(target, CALIB, options);
  equal(first.planFile.model.family, "pixart");
  equal(first.planFile.model.tokens, 48);
  equal(first.planFile.window, WINDOW);
  deepEqual(
    [first.planFile.sampler, first.planFile.cfgScale, first.planFile.nCalib],
    ["dpm-solver++", 4.5, 2],
  );
  await checkAcceptedChoices(target, CALIB, first);
  model.release();
});

Deno.test("PixArt samples under a hand-made plan with all four methods, without leaks", async () => {
  const model = await loadTinyPixArt();
  const methods: AttentionMethod[][] = [
    ["FULL_ATTN", "RESIDUAL_WINDOW_ATTN", "OUTPUT_SHARE", "FULL_ATTN_CFG_SHARE"],
    ["FULL_ATTN", "FULL_ATTN_CFG_SHARE", "RESIDUAL_WINDOW_ATTN_CFG_SHARE", "OUTPUT_SHARE"],
  ];
  const common = { prompts: CALIB.prompts, negative: CALIB.negative, ...SIZE, steps: 4, seed: 2 };
  const full = await samplePixArt(model, common);
  const allFull = await samplePixArt(model, { ...common, plan: fullPlan(2, 4, WINDOW) });
  assertRelativeError(allFull.samples, full.samples, 0, "an all-FULL plan");
  const liveBefore = model.gpu.pool.liveBytes;
  const compressed = await samplePixArt(model, { ...common, plan: { window: WINDOW, methods } });
  if (model.gpu.pool.liveBytes !== liveBefore) {
    throw new Error(`leak: ${model.gpu.pool.liveBytes - liveBefore} bytes live after sampling`);
  }
  if (!compressed.samples.every(Number.isFinite)) throw new Error("non-finite samples");
  const cost = planCost(
    { window: WINDOW, methods },
    pixartTarget(model, SIZE).costShape,
  );
  if (!(cost.attentionMacsFraction < 1)) throw new Error("the plan saves no attention MACs");
  model.release();
});

Deno.test("PixArt plans are bound to their resolution and refuse bad calibration data", async () => {
  const model = await loadTinyPixArt();
  const sampler = await compress(pixartTarget(model, SIZE), CALIB, {
    threshold: 0.1,
    steps: 3,
  });
  const dir = await Deno.makeTempDir();
  const path = join(dir, "pixart-plan.json");
  await savePlan(path, sampler.planFile);
  const loaded = await CompressedSampler.fromPlan(pixartTarget(model, SIZE), await loadPlan(path));
  deepEqual(loaded.planFile.methods, sampler.planFile.methods);
  const images = await loaded.sample({ prompts: [CALIB.prompts[0]], negative: CALIB.negative });
  deepEqual(images.shape, [1, 4, 16, 12]);
  // 12×16 has the same 48 tokens but other neighbours in the flattened order.
  const transposed = { height: 12, width: 16, vaeScaleFactor: 1 };
  await rejects(
    async () => CompressedSampler.fromPlan(pixartTarget(model, transposed), await loadPlan(path)),
    PlanError,
    /another model/,
  );
  await rejects(
    async () =>
      CompressedSampler.fromPlan(pixartTarget(model, { ...SIZE, height: 8 }), await loadPlan(path)),
    PlanError,
    /another model|tokens/,
  );
  await rejects(
    () => loaded.sample({ prompts: [CALIB.prompts[0]], negative: CALIB.negative, ...transposed }),
    PlanError,
    /calibrated at 16×12 px/,
  );
  await rejects(
    () => compress(pixartTarget(model, SIZE), { prompts: [] }, { threshold: 0.1 }),
    OptionError,
    /at least one prompt/,
  );
  await rejects(
    () =>
      compress(
        pixartTarget(model, SIZE),
        { prompts: [randomPrompt(4, 4, 1, 32)] },
        { threshold: 0.1 },
      ),
    OptionError,
    /caption_channels is 40/,
  );
  await rejects(
    () => compress(pixartTarget(model, SIZE), { prompts: CALIB.prompts }, { threshold: 0.1 }),
    OptionError,
    /needs the negative/,
  );
  await Deno.remove(dir, { recursive: true });
  model.release();
});
