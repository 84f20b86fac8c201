/**
 * Attention inside the model against the same kernel alone, in one process: a DiT-XL/2-shaped
 * model (random weights, fewer layers) runs a step under capture, each captured kernel is
 * replayed alone, and fullAttention is timed alone on a random packed qkv of the same shape
 * [2, N, 3456] before and after. Issue 16 reported in-model attention 4–5× slower per call than
 * bench/attention_report.ts; this puts both numbers into one run.
 *
 *   deno run -A --unstable-webgpu bench/attention_in_model.ts [--size 256] [--layers 4]
 *       [--rounds 2]
 */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { fullAttention } from "../src/ops/attention.ts";
import { DIT_XL_2_256, randomDiTSource } from "../testing/random_dit.ts";
import { getGpu } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";
import { randomTensor } from "./bench_inputs.ts";

const values = benchArgs({ size: "256", layers: "4", rounds: "2" });
const size = Number(values.size);
const gpu = await getGpu({ kernelTrials: false });
const config = { ...DIT_XL_2_256, sampleSize: size / 8, numLayers: Number(values.layers) };
const model = await DiTModel.fromSource(gpu, config, randomDiTSource(config));
const tokens = (size / 16) ** 2;
const channels = config.numHeads * config.headDim;
const options = { labels: [207], cfgScale: 4, seed: 1, steps: 1 };
await sampleDiT(model, options); // compile
const qkv = randomTensor(gpu, [2, tokens, 3 * channels], 1);

/** Milliseconds per fullAttention call alone (3 calls in one submit, after a warm-up call). */
async function alone(): Promise<number> {
  fullAttention(qkv, config.numHeads).release();
  await gpu.sync();
  const started = performance.now();
  for (let i = 0; i < 3; i++) fullAttention(qkv, config.numHeads).release();
  await gpu.sync();
  return (performance.now() - started) / 3;
}

const load = () => Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
console.log(`adapter: ${gpu.adapterDescription}; DiT-XL/2 shapes, ${size} px, ${tokens} tokens`);
for (let round = 0; round < Number(values.rounds); round++) {
  const before = await alone();
  gpu.startCapture();
  const run = await sampleDiT(model, options);
  const times = await gpu.stopCapture(2);
  const after = await alone();
  const attention = times.find((t) => t.name === "fullAttention");
  const inModel = attention ? (1000 * attention.seconds) / attention.calls : NaN;
  console.log(
    `round ${round + 1}: in the model (replayed alone) ${inModel.toFixed(1)} ms per call; ` +
      `alone ${before.toFixed(1)} / ${after.toFixed(1)} ms; step ${
        run.stepSeconds[0].toFixed(2)
      } s (load ${load()})`,
  );
}
qkv.release();
model.release();
