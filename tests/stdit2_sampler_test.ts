/**
 * Open-Sora's IDDPM sampler for STDiT2: the respaced tables as docs/STDIT.md describes them, one
 * guided step recomputed on the CPU from the model's own output (CFG on channels 0–2, the null
 * caption, learned-range variance of the conditional half), and seeded reproducibility.
 */

import { deepEqual } from "node:assert/strict";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { latentVideo, sampleSTDiT2, videoConditioning } from "../models/stdit2/sample.ts";
import { respacedDiffusion, respacedTimesteps } from "../src/sampling/ddpm.ts";
import { batchNoise } from "../src/sampling/prng.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath, readGoldenJson, withGolden } from "./golden_files.ts";
import { assertRelativeError, relativeError, testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

const TINY = "stdit-tiny-random";
/** 3 frames of 32 × 40 px: latent 4 × 5, padded to 2 × 3 patches per frame. */
const VIDEO = { frames: 3, height: 32, width: 40, fps: 8 };

/** The golden's first caption (4 of 6 tokens kept) and a second one, as prompt files hold them. */
async function goldenPrompts(): Promise<PromptEmbedding[]> {
  return await withGolden(`${TINY}/forward.safetensors`, async (file) => {
    const y = await file.readFloat32("y"); // [2, 1, 6, 32]
    const mask = Float32Array.from(await file.readInt("mask"));
    const first = y.subarray(0, 6 * 32);
    return [
      { source: "prompt-a", length: 6, channels: 32, embeds: first, mask: mask.subarray(0, 6) },
      {
        source: "prompt-b",
        length: 5,
        channels: 32,
        embeds: first.map((v, i) => v * Math.cos(i)).subarray(0, 5 * 32),
        mask: Float32Array.of(1, 1, 0, 1, 1),
      },
    ];
  });
}

Deno.test("IDDPM respacing: 100 steps keep timesteps 0, 10, …, 989, 999 with float32 betas", () => {
  const timesteps = respacedTimesteps(100);
  deepEqual(timesteps.length, 100);
  deepEqual(timesteps.slice(0, 6), [0, 10, 20, 30, 40, 50]);
  deepEqual(timesteps.slice(-3), [979, 989, 999]);
  // round(i · 999/99): strides of 10 with an extra step every ~11 (e.g. 101 after 91).
  for (let i = 1; i < 100; i++) {
    const gap = timesteps[i] - timesteps[i - 1];
    if (gap !== 10 && gap !== 11) throw new Error(`gap ${gap} at ${i}`);
  }
  const f32 = respacedDiffusion(100, {}, { float32Betas: true });
  const f64 = respacedDiffusion(100);
  if (!f32.betas.every((b) => b === Math.fround(b))) throw new Error("betas not float32");
  // Rounding the betas is the only difference: relative changes of float32 size.
  assertRelativeError(f32.betas, f64.betas, 1e-7, "betas");
  assertRelativeError(f32.sqrtRecipm1AlphasCumprod, f64.sqrtRecipm1AlphasCumprod, 1e-7, "σ/α");
  // The learned-range lower end at k = 0 is the (clipped) second posterior variance.
  const variance1 = (f32.betas[1] * (1 - (1 - f32.betas[0]))) /
    (1 - (1 - f32.betas[0]) * (1 - f32.betas[1]));
  if (Math.abs(f32.posteriorLogVarianceClipped[0] - Math.log(variance1)) > 1e-12) {
    throw new Error("posterior log variance is not clipped to the second entry");
  }
});

Deno.test("IDDPM tables agree with the original DiT DDPM golden up to the float32 betas", async () => {
  // Open-Sora's IDDPM is the DiT code with float32 respaced betas: the DiT golden's float64
  // tables must agree to float32 rounding.
  const json = await readGoldenJson("dit-tiny-random/samplers.json");
  const runs = (json.ddpm as Record<string, unknown>).runs as Record<
    string,
    Record<string, number[]>
  >;
  for (const steps of [10, 25]) {
    const run = runs[String(steps)];
    const d = respacedDiffusion(steps, {}, { float32Betas: true });
    deepEqual(d.timestepMap, run.timestep_map);
    assertRelativeError(d.betas, run.betas, 1e-7, `${steps} betas`);
    assertRelativeError(d.posteriorMeanCoef1, run.posterior_mean_coef1, 1e-6, `${steps} coef1`);
    assertRelativeError(d.posteriorMeanCoef2, run.posterior_mean_coef2, 1e-6, `${steps} coef2`);
    assertRelativeError(
      d.posteriorLogVarianceClipped,
      run.posterior_log_variance_clipped,
      1e-6,
      `${steps} log variance`,
    );
  }
});

Deno.test("one guided IDDPM step equals its CPU recomputation from the model output", async () => {
  const model = await STDiT2Model.load(await testGpu(), localFolder(goldenPath(TINY)));
  const prompts = await goldenPrompts();
  const seed = 5, cfgScale = 7, steps = 2;
  const video = latentVideo(VIDEO);
  let afterFirst: Float32Array | null = null;
  await sampleSTDiT2(model, {
    prompts,
    ...VIDEO,
    steps,
    cfgScale,
    seed,
    beforeStep: async ({ step, x }) => {
      if (step === 1) afterFirst = await x.toFloat32();
    },
  });
  // The same step on the CPU: guided ε on channels 0–2, the conditional ε on channel 3, the
  // learned-range variance from the conditional half, the step's seeded noise.
  const batch = prompts.length;
  const c = model.inChannels;
  const plane = video.frames * video.latentHeight * video.latentWidth;
  const perSample = c * plane;
  const x0 = batchNoise(seed, batch, perSample);
  const x = Tensor.fromArray(model.gpu, new Float32Array([...x0, ...x0]), [
    2 * batch,
    c,
    video.frames,
    video.latentHeight,
    video.latentWidth,
  ]);
  const conditioning = videoConditioning(model, prompts, video, true);
  const out = await model.forward(x, 999, conditioning).toFloat32();
  x.release();
  conditioning.release();
  const d = respacedDiffusion(steps, {}, { float32Betas: true });
  const k = 1;
  const z = batchNoise(seed, batch, perSample, 1);
  const expected = new Float64Array(batch * perSample);
  for (let b = 0; b < batch; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < plane; p++) {
        const at = (b * 2 * c + ch) * plane + p; // cond half, 2c output channels per sample
        const cond = out[at];
        const uncond = out[at + batch * 2 * c * plane];
        const eps = ch < 3 ? uncond + cfgScale * (cond - uncond) : cond;
        const v = out[at + c * plane];
        const i = (b * c + ch) * plane + p;
        const predicted = d.sqrtRecipAlphasCumprod[k] * x0[i] - d.sqrtRecipm1AlphasCumprod[k] * eps;
        const mean = d.posteriorMeanCoef1[k] * predicted + d.posteriorMeanCoef2[k] * x0[i];
        const frac = (v + 1) / 2;
        const logVariance = frac * d.logBetas[k] + (1 - frac) * d.posteriorLogVarianceClipped[k];
        expected[i] = mean + Math.exp(0.5 * logVariance) * z[i];
      }
    }
  }
  if (!afterFirst) throw new Error("the second step never started");
  assertRelativeError(afterFirst, expected, 1e-5, "first IDDPM step");
  model.release();
});

Deno.test("STDiT2 sampling is reproducible from its seed, and per-sample", async () => {
  const model = await STDiT2Model.load(await testGpu(), localFolder(goldenPath(TINY)));
  const prompts = await goldenPrompts();
  const common = { ...VIDEO, steps: 4 };
  const a = await sampleSTDiT2(model, { prompts, ...common, seed: 3 });
  // The first run cached the position and rotary tables; a second one must leave nothing.
  const liveBefore = model.gpu.pool.liveBytes;
  const b = await sampleSTDiT2(model, { prompts, ...common, seed: 3 });
  if (model.gpu.pool.liveBytes !== liveBefore) {
    throw new Error(`leak: ${model.gpu.pool.liveBytes - liveBefore} bytes live after sampling`);
  }
  const other = await sampleSTDiT2(model, { prompts, ...common, seed: 4 });
  deepEqual(a.shape, [2, 4, 3, 4, 5]);
  assertRelativeError(b.samples, a.samples, 0, "same seed");
  if (!(relativeError(other.samples, a.samples) > 0.1)) throw new Error("seed has no effect");
  // Sample 0 does not depend on what else is in the batch (its noise is stream (seed, 0)).
  const first = await sampleSTDiT2(model, { prompts: prompts.slice(0, 1), ...common, seed: 3 });
  assertRelativeError(first.samples, a.samples.subarray(0, first.samples.length), 1e-5, "batch");
  model.release();
});
