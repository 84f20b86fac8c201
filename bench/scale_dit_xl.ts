/**
 * The real-checkpoint path at full size, with random weights: writes a DiT-XL/2-shaped
 * checkpoint in diffusers layout (F32 and F16 files) and an SD-VAE-shaped decoder, loads them,
 * and times one denoising step at 256 px (32×32 latents) and 512 px (64×64 latents) with a CFG
 * batch of 2, under full attention and under a hand-made plan of about half the attention
 * MACs, plus a VAE decode at 256 px. Reports load time, step time and peak GPU memory.
 *
 *   deno run -A --unstable-webgpu bench/scale_dit_xl.ts [--dtypes f16,f32] [--sizes 256,512]
 *       [--dir out/scale-xl] [--keep] [--small]
 *
 * Shader compilation is kept out of the timed steps: the full run times its second step, the
 * plan run (full step, then two compressed steps) its third. `--small` runs the same script on a
 * 4-layer model in seconds (to try the script, not to measure).
 */

import { join } from "node:path";
import { DiTModel } from "../models/dit/model.ts";
import { type DiTConfig, hiddenSize } from "../models/dit/config.ts";
import { ditCostShape } from "../models/dit/cost.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { expectedDiTShapes } from "../models/dit/weights.ts";
import { DIT_XL_2_256 } from "../testing/random_dit.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { parseVaeConfig } from "../models/vae/config.ts";
import { expectedVaeShapes } from "../models/vae/weights.ts";
import { type AttentionPlan, planCost } from "../src/compression/plan.ts";
import type { Gpu } from "../src/gpu/context.ts";
import type { WritableDtype } from "../src/io/safetensors_writer.ts";
import { convCacheBytes, releaseConvCaches } from "../src/ops/conv.ts";
import { linearCacheBytes, releaseLinearCaches } from "../src/ops/linear.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";
import { Tensor } from "../src/tensor.ts";
import { getGpu, localFolder, writeBytes, writeSafetensors } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";
import { halfAttentionPlan } from "./scale_plan_mix.ts";

const values = benchArgs({
  dtypes: "f16,f32",
  sizes: "256,512",
  dir: "out/scale-xl",
  keep: false,
  small: false,
});
const dtypes = values.dtypes.split(",") as ("f16" | "f32")[];
const sizes = values.sizes.split(",").map(Number);

/** sd-vae-ft-ema's decoder configuration. */
const SD_VAE = {
  _class_name: "AutoencoderKL",
  act_fn: "silu",
  block_out_channels: [128, 256, 512, 512],
  down_block_types: Array(4).fill("DownEncoderBlock2D"),
  up_block_types: Array(4).fill("UpDecoderBlock2D"),
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  layers_per_block: 2,
  norm_num_groups: 32,
  sample_size: 256,
  scaling_factor: 0.18215,
};
const SMALL_VAE = { ...SD_VAE, block_out_channels: [32, 32, 64, 64], norm_num_groups: 8 };

const ditConfig: DiTConfig = values.small
  ? { ...DIT_XL_2_256, numLayers: 4, numHeads: 4, headDim: 32 }
  : { ...DIT_XL_2_256 };
const vaeRaw = values.small ? SMALL_VAE : SD_VAE;

/** The diffusers config.json of a DiT (the keys DiTTransformer2DModel saves). */
function diffusersDiTConfig(config: DiTConfig): Record<string, unknown> {
  return {
    _class_name: "DiTTransformer2DModel",
    sample_size: config.sampleSize,
    patch_size: config.patchSize,
    in_channels: config.inChannels,
    out_channels: config.outChannels,
    num_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    attention_head_dim: config.headDim,
    num_embeds_ada_norm: config.numClasses,
    norm_type: "ada_norm_zero",
    norm_elementwise_affine: false,
    norm_eps: config.normEps,
    activation_fn: "gelu-approximate",
    attention_bias: true,
  };
}

/** Writes `shapes` with N(0, std(name, shape)²) values, generated tensor by tensor. */
async function writeRandom(
  path: string,
  shapes: Map<string, number[]>,
  dtype: WritableDtype,
  std: (name: string, shape: number[]) => number,
  constant: (name: string) => number | undefined = () => undefined,
): Promise<void> {
  const tensors: Parameters<typeof writeSafetensors>[1] = {};
  let stream = 0;
  for (const [name, shape] of shapes) {
    const index = stream++;
    const size = shape.reduce((a, b) => a * b, 1);
    tensors[name] = {
      dtype,
      shape,
      data: () => {
        const fill = constant(name);
        if (fill !== undefined) return new Float32Array(size).fill(fill);
        const values = gaussianNoise(7, 0, size, index);
        const s = std(name, shape);
        for (let i = 0; i < size; i++) values[i] *= s;
        return values;
      },
    };
  }
  await writeSafetensors(path, tensors);
}

async function writeCheckpoints(dir: string): Promise<void> {
  for (const dtype of dtypes) {
    const folder = join(dir, `dit-${dtype}`);
    await Deno.mkdir(folder, { recursive: true });
    await writeBytes(
      join(folder, "config.json"),
      JSON.stringify(diffusersDiTConfig(ditConfig), null, 1),
    );
    const started = performance.now();
    await writeRandom(
      join(folder, "diffusion_pytorch_model.safetensors"),
      expectedDiTShapes(ditConfig),
      dtype === "f16" ? "F16" : "F32",
      () => 0.02,
    );
    log(`wrote ${folder} (${dtype}) in ${seconds(started)}`);
  }
  const vae = join(dir, "vae");
  await Deno.mkdir(vae, { recursive: true });
  await writeBytes(join(vae, "config.json"), JSON.stringify(vaeRaw, null, 1));
  // Fan-in scaled convs and unit norms keep the activations O(1) through the decoder.
  const config = parseVaeConfig(vaeRaw, "config.json");
  await writeRandom(
    join(vae, "diffusion_pytorch_model.safetensors"),
    expectedVaeShapes(config),
    "F32",
    (_name, shape) => 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)),
    (name) => /norm.*\.weight$/.test(name) ? 1 : name.endsWith(".bias") ? 0 : undefined,
  );
}

interface Row {
  [key: string]: string | number;
}
const rows: Row[] = [];

function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function seconds(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)}s`;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** Buffer and texture bytes the process holds on the GPU right now. */
function textureBytes(gpu: Gpu): number {
  return linearCacheBytes(gpu) + convCacheBytes(gpu);
}

function resetMemory(gpu: Gpu): void {
  releaseLinearCaches(gpu);
  releaseConvCaches(gpu);
  gpu.pool.trim();
  gpu.pool.resetPeak();
}

async function loadDiT(
  gpu: Gpu,
  folder: string,
  dtype: "f16" | "f32",
  size: number,
  freePackedWeights: boolean,
): Promise<{ model: DiTModel; loadSeconds: number }> {
  resetMemory(gpu);
  const started = performance.now();
  const model = size === 256
    ? await DiTModel.load(gpu, localFolder(folder), { dtype, freePackedWeights })
    : await loadAtSize(gpu, folder, dtype, size, freePackedWeights);
  await gpu.sync();
  const loadSeconds = (performance.now() - started) / 1000;
  log(
    `loaded ${folder} at ${size} px (${dtype}, freePackedWeights ${freePackedWeights}) in ${
      loadSeconds.toFixed(1)
    }s`,
  );
  return { model, loadSeconds };
}

/** DiT-XL/2-512 is the same weights with sample_size 64: a config beside the same file. */
async function loadAtSize(
  gpu: Gpu,
  folder: string,
  dtype: "f16" | "f32",
  size: number,
  freePackedWeights: boolean,
): Promise<DiTModel> {
  const sized = `${folder}-${size}`;
  await Deno.mkdir(sized, { recursive: true });
  const config = { ...diffusersDiTConfig(ditConfig), sample_size: size / 8 };
  await writeBytes(join(sized, "config.json"), JSON.stringify(config, null, 1));
  const link = join(sized, "diffusion_pytorch_model.safetensors");
  await Deno.remove(link).catch(() => {});
  await Deno.symlink(
    join(Deno.realPathSync(folder), "diffusion_pytorch_model.safetensors"),
    link,
  );
  return DiTModel.load(gpu, localFolder(sized), { dtype, freePackedWeights });
}

/** Samples `steps` steps; returns the step times and the peak memory of the run. */
async function run(
  model: DiTModel,
  steps: number,
  plan?: AttentionPlan,
): Promise<{ stepSeconds: number[]; peakBufferBytes: number; textureBytes: number }> {
  const gpu = model.gpu;
  gpu.pool.resetPeak();
  const result = await sampleDiT(model, { labels: [207], steps, cfgScale: 4, seed: 1, plan });
  const finite = result.samples.every(Number.isFinite);
  if (!finite) log("warning: non-finite latents");
  return {
    stepSeconds: result.stepSeconds,
    peakBufferBytes: gpu.pool.peakLiveBytes,
    textureBytes: textureBytes(gpu),
  };
}

async function benchDiT(gpu: Gpu, dir: string, dtype: "f16" | "f32", size: number) {
  const folder = join(dir, `dit-${dtype}`);
  const tokens = (size / 8 / ditConfig.patchSize) ** 2;
  if (size === 256) {
    // The buffer copy of each weight kept beside its texture: the memory before freeing it.
    const { model, loadSeconds } = await loadDiT(gpu, folder, dtype, size, false);
    const full = await run(model, 2);
    rows.push({
      model: `DiT-XL/2 ${size}px`,
      dtype,
      weights: "buffer + texture",
      run: "full",
      loadSeconds: loadSeconds.toFixed(1),
      stepSeconds: full.stepSeconds[1].toFixed(2),
      peakBufferMiB: mib(full.peakBufferBytes),
      textureMiB: mib(full.textureBytes),
    });
    log(JSON.stringify(rows.at(-1)));
    model.release();
  }
  const { model, loadSeconds } = await loadDiT(gpu, folder, dtype, size, true);
  const full = await run(model, 2);
  const plan = halfAttentionPlan(ditConfig.numLayers, 3, tokens);
  const shape = ditCostShape(ditConfig, tokens);
  const stepFraction =
    planCost({ window: plan.window, methods: plan.methods.map((r) => [r[2]]) }, shape)
      .attentionMacsFraction;
  const planFraction = planCost(plan, shape).attentionMacsFraction;
  const compressed = await run(model, 3, plan);
  for (const [name, result, step] of [["full", full, 1], ["plan", compressed, 2]] as const) {
    rows.push({
      model: `DiT-XL/2 ${size}px`,
      dtype,
      weights: "texture only",
      run: name === "full"
        ? "full"
        : `plan (step ${(100 * stepFraction).toFixed(0)}%, 3-step plan ${
          (100 * planFraction).toFixed(0)
        }% attention MACs)`,
      loadSeconds: loadSeconds.toFixed(1),
      stepSeconds: result.stepSeconds[step].toFixed(2),
      peakBufferMiB: mib(result.peakBufferBytes),
      textureMiB: mib(result.textureBytes),
    });
    log(JSON.stringify(rows.at(-1)) + ` all steps ${result.stepSeconds.map((s) => s.toFixed(1))}`);
  }
  model.release();
}

async function benchVae(gpu: Gpu, dir: string, dtype: "f16" | "f32"): Promise<void> {
  resetMemory(gpu);
  const started = performance.now();
  const vae = await VaeDecoder.load(gpu, localFolder(join(dir, "vae")), { dtype });
  await gpu.sync();
  const loadSeconds = (performance.now() - started) / 1000;
  const latents = Tensor.fromArray(gpu, gaussianNoise(3, 0, 4 * 32 * 32), [1, 4, 32, 32]);
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    gpu.pool.resetPeak();
    const t0 = performance.now();
    const image = vae.decode(latents);
    const pixels = await image.toFloat32();
    times.push((performance.now() - t0) / 1000);
    image.release();
    if (!pixels.every(Number.isFinite)) log("warning: non-finite pixels");
  }
  rows.push({
    model: "SD-VAE decoder 256px",
    dtype,
    weights: "conv weights " + dtype,
    run: "decode 1 image",
    loadSeconds: loadSeconds.toFixed(1),
    stepSeconds: times[1].toFixed(2),
    peakBufferMiB: mib(gpu.pool.peakLiveBytes),
    textureMiB: mib(textureBytes(gpu)),
  });
  log(JSON.stringify(rows.at(-1)) + ` first decode ${times[0].toFixed(1)}s`);
  latents.release();
  vae.release();
}

const gpu = await getGpu();
log(
  `adapter: ${gpu.adapterDescription}; maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}; DiT ${ditConfig.numLayers} layers × ${
    hiddenSize(ditConfig)
  }`,
);
const dir = values.dir;
await Deno.mkdir(dir, { recursive: true });
await writeCheckpoints(dir);
for (const dtype of dtypes) {
  for (const size of sizes) await benchDiT(gpu, dir, dtype, size);
}
for (const dtype of dtypes) await benchVae(gpu, dir, dtype);

const columns = Object.keys(rows[0]);
console.log(`\n| ${columns.join(" | ")} |\n|${columns.map(() => " --- |").join("")}`);
for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(" | ")} |`);
await writeBytes(join(dir, "..", "scale_dit_xl.json"), JSON.stringify(rows, null, 1));
if (!values.keep) {
  for (const entry of Deno.readDirSync(dir)) {
    await Deno.remove(join(dir, entry.name), { recursive: true });
  }
}
