/**
 * DiTPipeline on the tiny goldens: a pipeline root assembled from dit-tiny-random and
 * vae-tiny-random gives exactly sampleDiT → VaeDecoder.decode, with and without a plan, under
 * its scheduler config, split into batches or not.
 */

import { ditTarget } from "../calibrate/targets/mod.ts";
import { strictEqual } from "node:assert";
import { join } from "node:path";
import { compress } from "../calibrate/compress.ts";
import { DiTModel } from "../models/dit/model.ts";
import { DiTPipeline } from "../models/dit/pipeline.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { pipelineCommand } from "../cli/pipeline.ts";
import { CheckpointError, OptionError } from "../src/errors.ts";
import { Gpu } from "../src/gpu/context.ts";
import { DdimScheduler } from "../src/sampling/ddim.ts";
import type { Scheduler } from "../src/sampling/scheduler.ts";
import { DIT_XL_SCHEDULER_JSON as DIT_SCHEDULER } from "./dit_scheduler_config.ts";
import { goldenPath, tinyDiTFolderArgs, tinyDiTFolders } from "./golden_files.ts";
import { assertRelativeError, decodeImages, testGpu } from "./helpers.ts";
import { loadPlan, localFolder, savePlan } from "../deno.ts";
import { assertRejects } from "./asserts.ts";

const CLASS_NAMES = Object.fromEntries(
  Array.from({ length: 10 }, (_, i) => [String(i), `class ${i}, synonym ${i}`]),
);

/** A diffusers-style pipeline root: links to the golden parts, a scheduler config, an index. */
async function pipelineRoot(scheduler: Record<string, unknown> = DIT_SCHEDULER): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dit-pipeline-" });
  await Deno.symlink(goldenPath("dit-tiny-random"), join(root, "transformer"));
  await Deno.symlink(goldenPath("vae-tiny-random"), join(root, "vae"));
  await Deno.mkdir(join(root, "scheduler"));
  await Deno.writeTextFile(
    join(root, "scheduler", "scheduler_config.json"),
    JSON.stringify(scheduler),
  );
  await Deno.writeTextFile(
    join(root, "model_index.json"),
    JSON.stringify({ _class_name: "DiTPipeline", id2label: CLASS_NAMES }),
  );
  return root;
}

/** The reference path: sampleDiT on a separately loaded transformer, then a batched decode. */
async function referenceImages(
  gpu: Gpu,
  options: Parameters<typeof sampleDiT>[1],
): Promise<Float32Array> {
  const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
  const vae = await VaeDecoder.load(gpu, localFolder(goldenPath("vae-tiny-random")));
  const result = await sampleDiT(model, options);
  const values = await decodeImages(vae, result.samples, result.shape);
  model.release();
  vae.release();
  return values;
}

const LABELS = [1, 7, 3];

Deno.test("DiTPipeline equals sampleDiT then VaeDecoder.decode on the same seed", async () => {
  const gpu = await testGpu();
  const root = await pipelineRoot();
  const pipeline = await DiTPipeline.load(gpu, localFolder(root));
  strictEqual(pipeline.imageSize, 64);
  const result = await pipeline.generate({ labels: LABELS, steps: 5, cfgScale: 4, seed: 11 });
  strictEqual(result.shape.join(), "3,3,64,64");
  strictEqual(result.stepSeconds.flat().length, 5);
  const expected = await referenceImages(gpu, {
    labels: LABELS,
    steps: 5,
    cfgScale: 4,
    seed: 11,
  });
  assertRelativeError(result.images, expected, 1e-6, "pipeline vs sampleDiT + decode");
  if (result.images.some((v) => !(v >= 0 && v <= 1))) throw new Error("pixels outside [0, 1]");
  // Unguided sampling runs the conditional batch only and still agrees.
  const plain = await pipeline.generate({ labels: [4], steps: 3, cfgScale: 1, seed: 2 });
  const plainExpected = await referenceImages(gpu, {
    labels: [4],
    steps: 3,
    cfgScale: 1,
    seed: 2,
  });
  assertRelativeError(plain.images, plainExpected, 1e-6, "unguided");
  pipeline.release();
  await Deno.remove(root, { recursive: true });
});

Deno.test("DiTPipeline split into batches gives every image its own noise streams", async () => {
  const gpu = await testGpu();
  const pipeline = await DiTPipeline.fromFolders(gpu, tinyDiTFolders());
  // DDPM also draws fresh noise at every step, per image.
  for (const sampler of ["ddim", "ddpm"] as const) {
    const options = { labels: LABELS, steps: 4, seed: 5, sampler };
    const whole = await pipeline.generate(options);
    const split = await pipeline.generate({ ...options, batchSize: 1 });
    strictEqual(split.stepSeconds.length, 3);
    assertRelativeError(split.images, whole.images, 1e-6, `${sampler} batch 1 vs 3`);
  }
  pipeline.release();
});

Deno.test("DiTPipeline follows its scheduler config (β range, training steps, class)", async () => {
  const gpu = await testGpu();
  const schedule = { trainSteps: 500, betaStart: 2e-4, betaEnd: 0.012 };
  const root = await pipelineRoot({
    ...DIT_SCHEDULER,
    num_train_timesteps: 500,
    beta_start: 2e-4,
    beta_end: 0.012,
  });
  const pipeline = await DiTPipeline.load(gpu, localFolder(root));
  const result = await pipeline.generate({ labels: [2], steps: 4, seed: 3 });
  const scheduler: Scheduler = new DdimScheduler(4, schedule);
  const expected = await referenceImages(gpu, { labels: [2], steps: 4, seed: 3, scheduler });
  assertRelativeError(result.images, expected, 1e-6, "custom β schedule");
  // Calibration assumes DiT's schedule: refused here, before any GPU work.
  await assertRejects(
    async () =>
      await compress(ditTarget(pipeline.transformer, pipeline.scheduler), { labels: [1] }, {
        threshold: 0.1,
        steps: 4,
      }),
    OptionError,
    "β schedule",
  );
  pipeline.release();
  await Deno.remove(root, { recursive: true });

  const dpmRoot = await pipelineRoot({ _class_name: "DPMSolverMultistepScheduler" });
  const dpm = await DiTPipeline.load(gpu, localFolder(dpmRoot));
  const dpmResult = await dpm.generate({ labels: [2], steps: 4, seed: 3 });
  const dpmExpected = await referenceImages(gpu, {
    labels: [2],
    steps: 4,
    seed: 3,
    sampler: "dpm-solver++",
  });
  assertRelativeError(dpmResult.images, dpmExpected, 1e-6, "DPM-Solver++ from the class name");
  dpm.release();
  await Deno.remove(dpmRoot, { recursive: true });
});

Deno.test("DiTPipeline refuses bad scheduler configs and folders with clear errors", async () => {
  const gpu = await testGpu();
  const live = gpu.pool.liveBytes;
  for (
    const [change, fragment] of [
      [{ beta_schedule: "scaled_linear" }, "beta_schedule"],
      [{ prediction_type: "v_prediction" }, "prediction_type"],
      [{ clip_sample: true }, "clip_sample"],
    ] as const
  ) {
    const root = await pipelineRoot({ ...DIT_SCHEDULER, ...change });
    await assertRejects(() => DiTPipeline.load(gpu, localFolder(root)), OptionError, fragment);
    await Deno.remove(root, { recursive: true });
  }
  // Refused before any weight was uploaded.
  strictEqual(gpu.pool.liveBytes, live);
  const euler = await pipelineRoot({ _class_name: "EulerDiscreteScheduler" });
  const pipeline = await DiTPipeline.load(gpu, localFolder(euler));
  await assertRejects(
    () => pipeline.generate({ labels: [1], steps: 2 }),
    OptionError,
    "choose a sampler",
  );
  await pipeline.generate({ labels: [1], steps: 2, sampler: "ddim" });
  await assertRejects(
    () => pipeline.generate({ labels: [10], sampler: "ddim" }),
    OptionError,
    "out of range",
  );
  await assertRejects(
    () => pipeline.generate({ labels: [1], sampler: "ddim", batchSize: 0 }),
    OptionError,
    "batch size",
  );
  pipeline.release();
  await Deno.remove(join(euler, "vae"));
  await assertRejects(
    () => DiTPipeline.load(gpu, localFolder(euler)),
    CheckpointError,
    "vae/ missing",
  );
  await Deno.remove(euler, { recursive: true });
  await assertRejects(
    () => DiTPipeline.load(gpu, localFolder(euler)),
    CheckpointError,
    "does not exist",
  );
});

Deno.test("DiTPipeline with a compression plan: compress() on its transformer and target, plan files", async () => {
  const gpu = await testGpu();
  const root = await pipelineRoot();
  const pipeline = await DiTPipeline.load(gpu, localFolder(root));
  const viaPipeline = await compress(
    ditTarget(pipeline.transformer, pipeline.scheduler),
    { labels: [1, 2] },
    { threshold: 0.2, steps: 5 },
  );
  const viaTransformer = await compress(pipeline.transformer, { labels: [1, 2] }, {
    threshold: 0.2,
    steps: 5,
  });
  strictEqual(JSON.stringify(viaPipeline.plan), JSON.stringify(viaTransformer.plan));
  if (!(viaPipeline.cost().attentionMacsFraction < 1)) throw new Error("nothing was compressed");
  const result = await pipeline.generate({ labels: LABELS, seed: 4, plan: viaPipeline.planFile });
  const expected = await referenceImages(gpu, {
    labels: LABELS,
    steps: 5,
    cfgScale: 4,
    seed: 4,
    plan: viaPipeline.plan,
  });
  assertRelativeError(result.images, expected, 1e-6, "pipeline with plan");
  const full = await pipeline.generate({ labels: LABELS, steps: 5, seed: 4 });
  if (full.images.every((v, i) => v === result.images[i])) throw new Error("plan had no effect");
  // Saved and loaded back, the plan gives the same images; other settings are refused.
  const planPath = join(root, "plan.json");
  await savePlan(planPath, viaPipeline.planFile);
  const loaded = await loadPlan(planPath);
  const again = await pipeline.generate({ labels: LABELS, seed: 4, plan: loaded });
  assertRelativeError(again.images, result.images, 0, "loaded plan");
  await assertRejects(
    () => pipeline.generate({ labels: LABELS, steps: 6, plan: loaded }),
    OptionError,
    "steps 6 (plan: 5)",
  );
  pipeline.release();
  await Deno.remove(root, { recursive: true });
});

Deno.test("DiTPipeline under a small binding limit splits batches and VAE tensors, same images", async () => {
  const gpu = await testGpu();
  // 2 images of MLP activations [2·64, 128] f32 per binding; the VAE's 64×64×16 activations
  // (256 KiB per image) are split by channel.
  const capped = await Gpu.create({ maxStorageBindingBytes: 128 * 1024 });
  const folders = tinyDiTFolders();
  const small = await DiTPipeline.fromFolders(capped, folders);
  strictEqual(small.maxBatch(4), 2);
  const result = await small.generate({ labels: LABELS, steps: 3, seed: 9 });
  strictEqual(result.stepSeconds.length, 2);
  await capped.checkErrors();
  const pipeline = await DiTPipeline.fromFolders(gpu, folders);
  const expected = await pipeline.generate({ labels: LABELS, steps: 3, seed: 9 });
  assertRelativeError(result.images, expected.images, 1e-6, "capped vs uncapped");
  small.release();
  pipeline.release();
  capped.destroy();
  // When one image cannot fit, the error says which activation and which limit.
  const tiny = await Gpu.create({ maxStorageBindingBytes: 48 * 1024 });
  const tooSmall = await DiTPipeline.fromFolders(tiny, folders);
  await assertRejects(
    () => tooSmall.generate({ labels: [1], steps: 2 }),
    OptionError,
    "maxStorageBufferBindingSize of 49152 bytes",
  );
  tooSmall.release();
  tiny.destroy();
});

Deno.test("DiTPipeline class names come from model_index.json id2label", async () => {
  const gpu = await testGpu();
  const root = await pipelineRoot();
  const pipeline = await DiTPipeline.load(gpu, localFolder(root));
  strictEqual(pipeline.labelIds(["class 3", "Synonym 7"]).join(), "3,7");
  try {
    pipeline.labelIds(["white shark"]);
    throw new Error("unknown name accepted");
  } catch (e) {
    if (!(e instanceof OptionError) || !e.message.includes("white shark")) throw e;
  }
  pipeline.release();
  await Deno.remove(root, { recursive: true });
});

/** Width and height from a PNG's IHDR chunk. */
async function pngSize(path: string): Promise<[number, number]> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer);
  return [view.getUint32(16), view.getUint32(20)];
}

Deno.test("cli pipeline: a pipeline root or transformer + VAE folders → PNGs", async () => {
  const root = await pipelineRoot();
  const out = join(root, "out", "grid.png");
  await pipelineCommand([
    "--pipeline",
    root,
    "--labels",
    "1,class 7",
    "--steps",
    "2",
    "--dtype",
    "f16",
    "--out",
    out,
    "--separate",
    "--cols",
    "2",
  ]);
  const [w, h] = await pngSize(out);
  if (w < 128 || h < 64 || w <= h) throw new Error(`grid is ${w}×${h}`);
  strictEqual((await pngSize(join(root, "out", "grid-1-7.png"))).join(), "68,68");
  const folderOut = join(root, "folders.png");
  await pipelineCommand([
    ...tinyDiTFolderArgs(),
    "--scheduler",
    join(root, "scheduler", "scheduler_config.json"),
    "--labels",
    "2",
    "--steps",
    "2",
    "--out",
    folderOut,
  ]);
  await Deno.stat(folderOut);
  await assertRejects(
    () => pipelineCommand(["--pipeline", root, "--vae", "x"]),
    OptionError,
    "either --pipeline",
  );
  await assertRejects(() => pipelineCommand(["--transformer", "x"]), OptionError, "--vae");
  await assertRejects(
    () => pipelineCommand(["--pipeline", root, "--dtype", "bf16"]),
    OptionError,
    "--dtype",
  );
  await Deno.remove(root, { recursive: true });
});
