/**
 * DPM-Solver++(2M) and the original DiT DDPM sampler on the tiny random DiT, against runs of
 * the upstream code (diffusers and facebookresearch/DiT) recorded in samplers.safetensors.
 */

import { DiTModel } from "../models/dit/model.ts";
import { type DiTSampleOptions, sampleDiT } from "../models/dit/sample.ts";
import type { SafetensorsFile } from "../src/io/safetensors.ts";
import { DdpmScheduler } from "../src/sampling/ddpm.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";
import { goldenPath, withGolden } from "./golden_files.ts";
import { localFolder } from "../deno.ts";

/**
 * Samples the tiny random DiT with the options `prefix` names in samplers.safetensors and
 * compares with the recorded `${prefix}_${steps}` (≤ 1e-3 relative).
 */
async function checkSampler(
  prefix: string,
  steps: number,
  options: (file: SafetensorsFile) => Promise<Partial<DiTSampleOptions>>,
): Promise<void> {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  await withGolden("dit-tiny-random/samplers.safetensors", async (file) => {
    const result = await sampleDiT(model, {
      labels: Array.from(await file.readInt(`${prefix}_labels`)),
      noise: await file.readFloat32(`${prefix}_x_T`),
      steps,
      cfgScale: 4,
      ...await options(file),
    });
    const key = `${prefix}_${steps}`;
    assertRelativeError(result.samples, await file.readFloat32(key), 1e-3, key);
  });
  model.release();
}

for (const steps of [10, 25]) {
  Deno.test(`DPM-Solver++(2M) ${steps} steps matches diffusers (≤1e-3 rel)`, async () => {
    await checkSampler("dpmpp", steps, () => Promise.resolve({ sampler: "dpm-solver++" }));
  });

  Deno.test(`DDPM with learned sigma ${steps} steps matches the original DiT (≤1e-3 rel)`, async () => {
    await checkSampler("ddpm", steps, async (file) => {
      const noise = await file.readFloat32(`ddpm_${steps}_noise`); // [steps, 4, 4, 16, 16]
      const perStep = noise.length / steps;
      // Only the conditional rows (first half of each draw) reach the sample.
      const scheduler = new DdpmScheduler(
        steps,
        (i, size) => noise.slice(i * perStep, i * perStep + size),
      );
      // The original DiT guides the first three channels only.
      return { guidedChannels: 3, scheduler };
    });
  });
}
