/**
 * One STDiT2-XL/2-shaped denoising step (random weights; 28 layers × 1152, 16 heads, T5-width
 * captions of 200 tokens) at DiTFastAttn's Open-Sora size, 16 frames × 240×426 px (latent
 * 30×53, padded to 54 → 405 tokens per frame, 6480 per sample), with the CFG batch of 2: full
 * attention vs a plan on the spatial attention. Reports step time, the kernel-time shares of
 * spatial, temporal and cross attention (each captured kernel replayed alone), the speedup and
 * the peak GPU memory.
 *
 *   deno run -A --unstable-webgpu bench/scale_stdit2.ts [--frames 16] [--height 240]
 *     [--width 426] [--layers 28] [--dtype f16] [--json out/scale_stdit2.json] [--small]
 *
 * Each run samples 3 steps and times the third (the plan run: a full step, then two compressed
 * ones), so shader compilation stays out of the timed step. `--small` runs a 2-layer model on
 * 4 small frames in a minute (to try the script, not to measure).
 */

import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { randomSTDiT2Source, STDIT2_XL_2 } from "../testing/random_stdit2.ts";
import { rowsPerBinding } from "../src/nn/row_chunks.ts";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { stdit2CostShape } from "../models/stdit2/cost.ts";
import { latentVideo, sampleSTDiT2 } from "../models/stdit2/sample.ts";
import { type AttentionPlan, planCost } from "../src/compression/plan.ts";
import type { Gpu } from "../src/gpu/context.ts";
import { type CapturedDispatch, replayTimes } from "../src/gpu/profiler.ts";
import { fullAttention } from "../src/ops/attention.ts";
import { linearCacheBytes } from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { kernelSecondsBy } from "./breakdown.ts";
import { mixedMethodColumn, randomPrompt } from "./scale_plan_mix.ts";
import { getGpu, writeBytes } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";

const values = benchArgs({
  frames: "16",
  height: "240",
  width: "426",
  layers: "28",
  dtype: "f16",
  json: "out/scale_stdit2.json",
  small: false,
});

const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const video = latentVideo(
  values.small ? { frames: 4, height: 64, width: 112, fps: 24 } : {
    frames: Number(values.frames),
    height: Number(values.height),
    width: Number(values.width),
    fps: 24,
  },
);
const config = { ...STDIT2_XL_2, depth: values.small ? 2 : Number(values.layers) };

/**
 * The grids of the temporal-attention launches (fullAttention over chunks of the [B·S, T, 3C]
 * sequences, chunked as the model does): spatial and temporal attention share the kernel name,
 * and their grids tell them apart.
 */
async function temporalGrids(
  gpu: Gpu,
  batch: number,
  tokensPerFrame: number,
): Promise<Set<string>> {
  const rows = batch * tokensPerFrame;
  const width = 3 * config.hiddenSize;
  const probe = Tensor.empty(gpu, [1, video.frames, width]);
  const perChunk = rowsPerBinding(probe, video.frames * width * 4);
  probe.release();
  const counts = new Set([Math.min(perChunk, rows), rows % perChunk || perChunk]);
  const grids = new Set<string>();
  for (const count of counts) {
    const qkv = Tensor.empty(gpu, [count, video.frames, width]);
    gpu.startCapture();
    const out = fullAttention(qkv, config.numHeads);
    await gpu.sync();
    const { dispatches, release } = gpu.recorder.endCapture();
    release();
    out.release();
    qkv.release();
    grids.add(dispatches[0].workgroups.join("x"));
  }
  return grids;
}

interface StepReport {
  wallSeconds: number;
  kernelSeconds: number;
  spatialAttentionSeconds: number;
  temporalAttentionSeconds: number;
  crossAttentionSeconds: number;
  linearSeconds: number;
  otherSeconds: number;
  /** Peak bytes of live tensors during the step (weights included) and linear textures. */
  peakTensorBytes: number;
  textureBytes: number;
}

/** Temporal and cross attention before spatial: the spatial pattern matches all three. */
const KERNEL_CATEGORIES = [
  ["temporalAttentionSeconds", /^temporalAttention$/],
  ["crossAttentionSeconds", /^crossAttention/],
  ["spatialAttentionSeconds", /attention/i],
  ["linearSeconds", /^linear/],
] as const;

async function measureStep(
  gpu: Gpu,
  model: STDiT2Model,
  prompt: PromptEmbedding,
  temporalGrids: ReadonlySet<string>,
  plan: AttentionPlan | undefined,
): Promise<StepReport> {
  // Step 0 compiles most pipelines, step 1 the compressed methods' ones: time step 2.
  const measured = 2;
  const result = await sampleSTDiT2(model, {
    prompts: [prompt],
    frames: video.frames,
    height: video.height,
    width: video.width,
    fps: video.fps,
    steps: measured + 1,
    seed: 0,
    plan,
    beforeStep: ({ step }) => {
      if (step !== measured) return;
      gpu.pool.resetPeak();
      gpu.startCapture();
    },
    onStep: (step, steps, seconds) => log(`  step ${step + 1}/${steps}: ${seconds.toFixed(1)} s`),
  });
  const peakTensorBytes = gpu.pool.peakLiveBytes;
  await gpu.sync();
  const { dispatches, release } = gpu.recorder.endCapture();
  const relabelled: CapturedDispatch[] = dispatches.map((d) =>
    d.name === "fullAttention" && temporalGrids.has(d.workgroups.join("x"))
      ? { ...d, name: "temporalAttention" }
      : d
  );
  const temporalLaunches = relabelled.filter((d) => d.name === "temporalAttention").length;
  log(
    `  replaying ${relabelled.length} captured kernels one by one (${temporalLaunches} of ` +
      `them temporal attention over ${model.layers} layers)`,
  );
  const times = await replayTimes(gpu.device, relabelled, 1);
  release();
  return {
    wallSeconds: result.stepSeconds[measured],
    ...kernelSecondsBy(times, KERNEL_CATEGORIES),
    peakTensorBytes,
    textureBytes: linearCacheBytes(gpu),
  };
}

const gpu = await getGpu();
log(`adapter: ${gpu.adapterDescription}`);
const dtype = values.dtype === "f32" ? "f32" : "f16";
let started = performance.now();
const model = await STDiT2Model.fromSource(gpu, config, randomSTDiT2Source(config), {
  dtype,
  freePackedWeights: true,
});
const grid = model.grid(video.frames, video.latentHeight, video.latentWidth);
log(
  `random STDiT2 (${config.depth} layers, ${dtype}) built in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s; ${video.frames} frames of ${video.height}×${video.width} px → latent ` +
    `${video.latentHeight}×${video.latentWidth}, ${grid.rows}×${grid.columns} = ` +
    `${grid.tokensPerFrame} tokens per frame`,
);
const prompt = randomPrompt(config.modelMaxLength, 40, config.captionChannels, 7);
const temporal = await temporalGrids(gpu, 2, grid.tokensPerFrame);
const window = Math.floor(grid.tokensPerFrame / 8);
const column = mixedMethodColumn(config.depth);
const costShape = stdit2CostShape(config, {
  frames: grid.frames,
  tokensPerFrame: grid.tokensPerFrame,
  captionTokens: config.modelMaxLength,
});
const cost = planCost({ window, methods: column.map((m) => [m]) }, costShape);
const plan: AttentionPlan = { window, methods: column.map((m) => ["FULL_ATTN", m, m]) };

started = performance.now();
log("full attention: 3 steps, the third timed");
const full = await measureStep(gpu, model, prompt, temporal, undefined);
log(JSON.stringify(full));
log(`plan at ${(100 * cost.attentionMacsFraction).toFixed(1)}% of the spatial-attention MACs`);
const compressed = await measureStep(gpu, model, prompt, temporal, plan);
log(JSON.stringify(compressed));
model.release();

const row = {
  frames: video.frames,
  px: `${video.height}x${video.width}`,
  tokensPerFrame: grid.tokensPerFrame,
  tokens: grid.frames * grid.tokensPerFrame,
  window,
  layers: config.depth,
  dtype,
  attentionMacsFraction: cost.attentionMacsFraction,
  modelMacsFraction: cost.modelMacs / cost.fullModelMacs,
  spatialAttentionMacShare: cost.fullAttentionMacs / cost.fullModelMacs,
  full,
  compressed,
  speedupWall: full.wallSeconds / compressed.wallSeconds,
  speedupKernels: full.kernelSeconds / compressed.kernelSeconds,
  minutes: (performance.now() - started) / 60000,
};
await Deno.mkdir("out", { recursive: true });
await writeBytes(values.json, JSON.stringify(row, null, 1) + "\n");
log(`wrote ${values.json}`);

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const share = (r: StepReport, s: number) => pct(s / r.kernelSeconds);
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
console.log(
  "\n| run | s / step (wall) | kernel s | spatial attn | temporal attn | cross attn | linears | " +
    "rest | peak tensors | linear textures |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const [name, r] of [["full", full], ["plan", compressed]] as const) {
  console.log(
    `| ${name} | ${r.wallSeconds.toFixed(1)} | ${r.kernelSeconds.toFixed(1)} | ` +
      `${share(r, r.spatialAttentionSeconds)} | ${share(r, r.temporalAttentionSeconds)} | ` +
      `${share(r, r.crossAttentionSeconds)} | ${share(r, r.linearSeconds)} | ` +
      `${share(r, r.otherSeconds)} | ${gib(r.peakTensorBytes)} | ${gib(r.textureBytes)} |`,
  );
}
console.log(
  `\nplan: ${pct(row.attentionMacsFraction)} of the spatial-attention MACs, ` +
    `${pct(row.modelMacsFraction)} of the model MACs (spatial attention is ` +
    `${pct(row.spatialAttentionMacShare)} of a full step's MACs); speedup ` +
    `${row.speedupWall.toFixed(3)}× wall, ${row.speedupKernels.toFixed(3)}× kernel time`,
);
