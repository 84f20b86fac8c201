/**
 * One PixArt-Σ-shaped sampling step (random weights, 28 layers × 1152, T5-width captions) at
 * 1024 px and, when its tensors fit the device's storage bindings, 2048 px: full attention vs a
 * hand-made plan at about 40% of the self-attention MACs. Reports the step time, the kernel-time
 * shares (each captured kernel replayed alone) and the speedup, beside the paper's PixArt-Σ
 * numbers (DiTFastAttn, 1K: 1.24×, 2K: 1.79× at D6).
 *
 *   deno run -A --unstable-webgpu bench/scale_pixart.ts [--px 1024,2048] [--layers 28]
 *     [--caption 300] [--dtype f16] [--json out/scale_pixart.json]
 *
 * Each measured run samples 3 steps (step 0 full, steps 1–2 under the plan's column) and times
 * step 2, so the pipelines of every kernel are compiled before the timed step.
 */

import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { type PixArtConfig, pixartWidth } from "../models/pixart/config.ts";
import { pixartCostShape } from "../models/pixart/cost.ts";
import { samplePixArt } from "../models/pixart/sample.ts";
import { PIXART_SIGMA_1024, randomPixArtSource } from "../testing/random_pixart.ts";
import { type AttentionPlan, planCost } from "../src/compression/plan.ts";
import type { Gpu } from "../src/gpu/context.ts";
import { kernelSecondsBy } from "./breakdown.ts";
import { mixedMethodColumn, randomPrompt } from "./scale_plan_mix.ts";
import { getGpu, writeBytes } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";

const values = benchArgs({
  px: "1024,2048",
  layers: "28",
  caption: "300",
  dtype: "f16",
  json: "out/scale_pixart.json",
});

const PAPER_SPEEDUP: Record<number, string> = { 1024: "1.24× (D6)", 2048: "1.79× (D6)" };
const MEASURED_STEP = 2;
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

interface StepReport {
  wallSeconds: number;
  kernelSeconds: number;
  selfAttentionSeconds: number;
  crossAttentionSeconds: number;
  linearSeconds: number;
  otherSeconds: number;
}

/** Cross-attention before self-attention: the self-attention pattern matches both. */
const KERNEL_CATEGORIES = [
  ["crossAttentionSeconds", /^crossAttention/],
  ["selfAttentionSeconds", /attention/i],
  ["linearSeconds", /^linear/],
] as const;

/**
 * Why a size cannot run on this device, or null when it can: self-attention splits the CFG batch
 * into single samples when it must, but one sample's packed q/k/v and the batch's hidden states
 * are each bound whole.
 */
function bindingProblem(gpu: Gpu, config: PixArtConfig, tokens: number): string | null {
  const limit = gpu.limits.maxStorageBufferBindingSize;
  const width = pixartWidth(config);
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const qkvBytes = tokens * 3 * width * 4;
  const hiddenBytes = 2 * tokens * width * 4;
  if (qkvBytes <= limit && hiddenBytes <= limit) return null;
  return `one sample's packed q/k/v is ${mib(qkvBytes)} and the CFG batch's hidden states ` +
    `${mib(hiddenBytes)}, against this device's ${mib(limit)} storage-binding limit`;
}

async function measureStep(
  gpu: Gpu,
  model: PixArtModel,
  px: number,
  prompts: { prompt: PromptEmbedding; negative: PromptEmbedding },
  plan: AttentionPlan | undefined,
): Promise<StepReport> {
  const result = await samplePixArt(model, {
    prompts: [prompts.prompt],
    negative: prompts.negative,
    height: px,
    width: px,
    steps: MEASURED_STEP + 1,
    seed: 0,
    plan,
    beforeStep: ({ step }) => {
      if (step === MEASURED_STEP) gpu.startCapture();
    },
    onStep: (step, steps, seconds) => log(`  step ${step + 1}/${steps}: ${seconds.toFixed(1)} s`),
  });
  log("  replaying the captured kernels one by one");
  const times = await gpu.stopCapture(1);
  return {
    wallSeconds: result.stepSeconds[MEASURED_STEP],
    ...kernelSecondsBy(times, KERNEL_CATEGORIES),
  };
}

const gpu = await getGpu();
log(`adapter: ${gpu.adapterDescription}`);
const config: PixArtConfig = { ...PIXART_SIGMA_1024, numLayers: Number(values.layers) };
const captionTokens = Number(values.caption);
const prompts = {
  prompt: randomPrompt(captionTokens, Math.min(120, captionTokens), config.captionChannels, 1),
  negative: randomPrompt(captionTokens, 1, config.captionChannels, 2),
};
const dtype = values.dtype === "f32" ? "f32" : "f16";
let started = performance.now();
const model = await PixArtModel.fromSource(gpu, config, randomPixArtSource(config), { dtype });
log(
  `random PixArt-Σ weights (${dtype}) built in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s`,
);

const rows: Record<string, unknown>[] = [];
for (const px of values.px.split(",").map(Number)) {
  const latent = px / 8;
  const tokens = model.tokens(latent, latent);
  const window = Math.floor(tokens / 8);
  const problem = bindingProblem(gpu, config, tokens);
  if (problem) {
    log(`${px} px (${tokens} tokens) skipped: ${problem}`);
    rows.push({ px, tokens, skipped: problem });
    continue;
  }
  const column = mixedMethodColumn(config.numLayers);
  const costShape = pixartCostShape(config, tokens, captionTokens);
  const cost = planCost({ window, methods: column.map((m) => [m]) }, costShape);
  const plan: AttentionPlan = {
    window,
    methods: column.map((m) => ["FULL_ATTN", ...Array(MEASURED_STEP).fill(m)]),
  };
  log(`${px} px, ${tokens} tokens, window ${window}: full step`);
  started = performance.now();
  const full = await measureStep(gpu, model, px, prompts, undefined);
  log(
    `${px} px: step under the plan (${
      (100 * cost.attentionMacsFraction).toFixed(1)
    }% attention MACs)`,
  );
  const compressed = await measureStep(gpu, model, px, prompts, plan);
  const row = {
    px,
    tokens,
    window,
    attentionMacsFraction: cost.attentionMacsFraction,
    modelMacsFraction: cost.modelMacs / cost.fullModelMacs,
    full,
    compressed,
    selfAttentionShare: full.selfAttentionSeconds / full.kernelSeconds,
    crossAttentionShare: full.crossAttentionSeconds / full.kernelSeconds,
    speedupWall: full.wallSeconds / compressed.wallSeconds,
    speedupKernels: full.kernelSeconds / compressed.kernelSeconds,
    paper: PAPER_SPEEDUP[px] ?? "–",
    minutes: (performance.now() - started) / 60000,
  };
  rows.push(row);
  log(JSON.stringify(row));
  await Deno.mkdir("out", { recursive: true });
  await writeBytes(values.json, JSON.stringify(rows, null, 1) + "\n");
}
model.release();

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(
  "\n| px | tokens | attn MACs (plan) | self-attn share (full) | cross-attn share | full s/step | plan s/step | speedup (wall) | speedup (kernel time) | paper |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  if (r.skipped) {
    console.log(
      `| ${r.px} | ${r.tokens} | – | – | – | – | – | – | – | ${PAPER_SPEEDUP[r.px as number]} |`,
    );
    continue;
  }
  const full = r.full as StepReport, compressed = r.compressed as StepReport;
  console.log(
    `| ${r.px} | ${r.tokens} | ${pct(r.attentionMacsFraction as number)} | ` +
      `${pct(r.selfAttentionShare as number)} | ${pct(r.crossAttentionShare as number)} | ` +
      `${full.wallSeconds.toFixed(1)} | ${compressed.wallSeconds.toFixed(1)} | ` +
      `${(r.speedupWall as number).toFixed(2)}× | ${
        (r.speedupKernels as number).toFixed(2)
      }× | ${r.paper} |`,
  );
}
