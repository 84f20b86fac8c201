/**
 * The greedy calibration on the tiny random golden DiT: deterministic, and every accepted
 * choice really had a loss under its layer's threshold when recomputed by plain forward passes.
 */

import { ditTarget } from "../calibrate/targets/mod.ts";
import { DiTModel } from "../models/dit/model.ts";
import { calibrateThrice, checkAcceptedChoices } from "./calibration_check.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

const STEPS = 6;
const DELTA = 0.08;
const CALIB = { labels: [3, 8], seed: 11 };

Deno.test("calibration is deterministic and its accepted choices are under threshold", async () => {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  const target = ditTarget(model);
  const first = await calibrateThrice(target, CALIB, {
    threshold: DELTA,
    steps: STEPS,
    window: 12,
  });
  await checkAcceptedChoices(target, CALIB, first);
  model.release();
});
