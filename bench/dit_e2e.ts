/**
 * End-to-end DiT step times: the embedded Fashion-MNIST model at several batch sizes and a
 * DiT-XL/2-shaped model with random weights at 256 px, each with the share of kernel time in
 * attention, linears and the rest (each captured kernel replayed alone and timed).
 *
 *   deno run -A --unstable-webgpu bench/dit_e2e.ts [--xl] [--steps 3]
 */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { DIT_XL_2_256, randomDiTSource } from "../testing/random_dit.ts";
import { breakdown, formatBreakdown } from "./breakdown.ts";
import { getGpu, localFolder } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";

const values = benchArgs({ xl: false, steps: "3", batches: "1,4,10" });
const steps = Number(values.steps);
const gpu = await getGpu();
console.log(`adapter: ${gpu.adapterDescription}`);

async function measure(model: DiTModel, label: string, samples: number): Promise<void> {
  const labels = Array.from({ length: samples }, (_, i) => i % model.config.numClasses);
  await sampleDiT(model, { labels, steps: 1, seed: 0 }); // compile pipelines for this batch
  const run = await sampleDiT(model, { labels, steps, seed: 0 });
  const stepSeconds = Math.min(...run.stepSeconds);
  gpu.startCapture();
  await sampleDiT(model, { labels, steps: 1, seed: 0 });
  const shares = breakdown(await gpu.stopCapture());
  console.log(
    `${label.padEnd(28)} batch 2×${samples}: ${stepSeconds.toFixed(3)} s/step ` +
      `(${(stepSeconds / samples).toFixed(3)} s per image-step); ${formatBreakdown(shares)}`,
  );
}

const tiny = await DiTModel.load(
  gpu,
  localFolder(new URL("../assets/tiny-fmnist", import.meta.url).pathname),
);
for (const n of values.batches.split(",").map(Number)) {
  await measure(tiny, "tiny-fmnist (256 tok)", n);
}
tiny.release();

if (values.xl) {
  const started = performance.now();
  const xl = await DiTModel.fromSource(gpu, DIT_XL_2_256, randomDiTSource(DIT_XL_2_256));
  console.log(
    `DiT-XL/2-256 random weights built and uploaded in ${
      ((performance.now() - started) / 1000).toFixed(1)
    }s`,
  );
  await measure(xl, "DiT-XL/2 256px (256 tok)", 1);
  xl.release();
}
