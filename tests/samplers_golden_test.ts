/**
 * DPM-Solver++(2M) and the original DiT DDPM sampler on the tiny random DiT, against runs of
 * the upstream code (diffusers and facebookresearch/DiT) recorded in samplers.safetensors.
 */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { DdpmScheduler } from "../src/sampling/ddpm.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";
import { goldenPath, withGolden } from "./golden_files.ts";
import { localFolder } from "../deno.ts";

for (const steps of [10, 25]) {
  Deno.test(`DPM-Solver++(2M) ${steps} steps matches diffusers (≤1e-3 rel)`, async () => {
    const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
    await withGolden("dit-tiny-random/samplers.safetensors", async (file) => {
      const result = await sampleDiT(model, {
        labels: Array.from(await file.readInt("dpmpp_labels")),
        noise: await file.readFloat32("dpmpp_x_T"),
        steps,
        cfgScale: 4,
        sampler: "dpm-solver++",
      });
      assertRelativeError(
        result.samples,
        await file.readFloat32(`dpmpp_${steps}`),
        1e-3,
        `dpmpp_${steps}`,
      );
    });
    model.release();
  });

  Deno.test(`DDPM with learned sigma ${steps} steps matches the original DiT (≤1e-3 rel)`, async () => {
    const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
    await withGolden("dit-tiny-random/samplers.safetensors", async (file) => {
      const noise = await file.readFloat32(`ddpm_${steps}_noise`); // [steps, 4, 4, 16, 16]
      const perStep = noise.length / steps;
      // Only the conditional rows (first half of each draw) reach the sample.
      const scheduler = new DdpmScheduler(
        steps,
        (i, size) => noise.slice(i * perStep, i * perStep + size),
      );
      const result = await sampleDiT(model, {
        labels: Array.from(await file.readInt("ddpm_labels")),
        noise: await file.readFloat32("ddpm_x_T"),
        steps,
        cfgScale: 4,
        guidedChannels: 3, // the original DiT guides the first three channels only
        scheduler,
      });
      assertRelativeError(
        result.samples,
        await file.readFloat32(`ddpm_${steps}`),
        1e-3,
        `ddpm_${steps}`,
      );
    });
    model.release();
  });
}
