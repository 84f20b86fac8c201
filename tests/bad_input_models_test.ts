/**
 * Bad input, models (issue 17, cases 2, 6–11): non-finite weights and samples, configs out of
 * range or at odds with the checkpoint, sizes that cannot fit, folders given as files, and the
 * VAE decode's progress. Uses the tiny golden models and copies of them edited here.
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { DiTModel } from "../models/dit/model.ts";
import { DiTPipeline } from "../models/dit/pipeline.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { parsePixArtConfig } from "../models/pixart/config.ts";
import { pixartCostShape } from "../models/pixart/cost.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { samplePixArt } from "../models/pixart/sample.ts";
import { parseSTDiT2Config } from "../models/stdit2/config.ts";
import { parseT5Config } from "../models/t5/config.ts";
import { parseVaeConfig } from "../models/vae/config.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { warnIfLongRun } from "../cli/estimate.ts";
import { compress } from "../calibrate/compress.ts";
import { CheckpointError, NumericsError, OptionError } from "../src/errors.ts";
import { Gpu } from "../src/gpu/context.ts";
import {
  editedModelCopy,
  type Float32TensorToWrite,
  type ModelEdit,
} from "../testing/model_copy.ts";
import { goldenPath, tinyDiTFolders } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { errorNaming as named } from "./asserts.ts";
import { randomPrompt } from "./pixart_fixtures.ts";
import { localFolder, readPromptEmbeddingFile } from "../deno.ts";

/** A copy of a tiny golden model folder with an edited config and tensors. */
function modelCopy(golden: string, edit: ModelEdit<Float32TensorToWrite>): Promise<string> {
  return editedModelCopy(goldenPath(golden), edit, "bad-input-");
}

/** Seconds `run` takes (the refusals below must come at once, not after minutes of work). */
async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run().catch(() => undefined);
  return (performance.now() - started) / 1000;
}

Deno.test("case 2: a NaN or infinite weight is refused at load, naming the tensor", async () => {
  const gpu = await testGpu();
  const weight = "transformer_blocks.1.ff.net.0.proj.weight";
  const nan = await modelCopy("dit-tiny-random", { tensors: (t) => (t[weight].data[5] = NaN) });
  await rejects(
    DiTModel.load(gpu, localFolder(nan)),
    named(CheckpointError, `"${weight}"`, "NaN at element 5", "must be finite"),
  );
  const inf = await modelCopy("dit-tiny-random", {
    tensors: (t) => (t["proj_out_1.bias"].data[0] = -Infinity),
  });
  await rejects(DiTModel.load(gpu, localFolder(inf)), named(CheckpointError, '"proj_out_1.bias"'));
  // 1e38 is finite in f32 but not in f16 storage: named, with the way out.
  const large = await modelCopy("dit-tiny-random", { tensors: (t) => (t[weight].data[0] = 1e38) });
  await rejects(
    DiTModel.load(gpu, localFolder(large), { dtype: "f16" }),
    named(CheckpointError, `"${weight}"`, "f16", "dtype f32"),
  );
  // The VAE decoder's weights too.
  const vae = await modelCopy("vae-tiny-random", {
    tensors: (t) => (t["decoder.conv_out.weight"].data[3] = NaN),
  });
  await rejects(
    VaeDecoder.load(gpu, localFolder(vae)),
    named(CheckpointError, '"decoder.conv_out.weight"'),
  );
  for (const dir of [nan, inf, large, vae]) await Deno.remove(dir, { recursive: true });
});

Deno.test("case 2: weights that overflow during sampling stop it, naming the step", async () => {
  const gpu = await testGpu();
  // Finite weights (so the load accepts them) whose output overflows float32.
  const dir = await modelCopy("dit-tiny-random", {
    tensors: (t) => t["proj_out_2.weight"].data.fill(1e38),
  });
  const model = await DiTModel.load(gpu, localFolder(dir));
  await rejects(
    sampleDiT(model, { labels: [1, 2], steps: 3, seed: 1 }),
    named(NumericsError, /at step 1 of 3 \(timestep \d+, sample 0\)/, "overflowed float32"),
  );
  model.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cases 6 and 7: config fields out of range are refused at parse time, naming file and field", async () => {
  const gpu = await testGpu();
  const huge = await modelCopy("dit-tiny-random", { config: (c) => (c.num_layers = 1e6) });
  const seconds = await timed(() => DiTModel.load(gpu, localFolder(huge)));
  await rejects(
    DiTModel.load(gpu, localFolder(huge)),
    named(CheckpointError, join(huge, "config.json"), '"num_layers" is 1000000', "1 to 1000"),
  );
  ok(seconds < 2, `refused after ${seconds.toFixed(1)} s`);
  // In range, but not what the checkpoint holds: compared before anything is sized from it.
  const four = await modelCopy("dit-tiny-random", { config: (c) => (c.num_layers = 4) });
  await rejects(
    DiTModel.load(gpu, localFolder(four)),
    named(CheckpointError, '"num_layers" is 4', "holds 3 blocks"),
  );
  const eps = await modelCopy("dit-tiny-random", { config: (c) => (c.norm_eps = -1) });
  await rejects(
    DiTModel.load(gpu, localFolder(eps)),
    named(CheckpointError, join(eps, "config.json"), '"norm_eps" is -1', "above 0"),
  );
  for (const dir of [huge, four, eps]) await Deno.remove(dir, { recursive: true });
});

Deno.test("cases 6 and 7: every family's config parser bounds its fields", () => {
  const pixart = JSON.parse(Deno.readTextFileSync(goldenPath("pixart-tiny-random", "config.json")));
  throws(
    () => parsePixArtConfig({ ...pixart, norm_eps: -1 }, "p.json"),
    named(CheckpointError, "p.json", '"norm_eps" is -1'),
  );
  throws(
    () => parsePixArtConfig({ ...pixart, num_layers: 1e6 }, "p.json"),
    named(CheckpointError, '"num_layers"'),
  );
  throws(
    () => parseSTDiT2Config({ depth: 1e6 }, "s.json"),
    named(CheckpointError, "s.json", '"depth" is 1000000'),
  );
  throws(
    () => parseSTDiT2Config({ mlp_ratio: 1e300 }, "s.json"),
    named(CheckpointError, '"mlp_ratio"'),
  );
  const t5 = {
    feed_forward_proj: "gated-gelu",
    d_model: 8,
    d_kv: 4,
    num_heads: 2,
    d_ff: 16,
    num_layers: 1e6,
    vocab_size: 100,
  };
  throws(() => parseT5Config(t5, "t.json"), named(CheckpointError, "t.json", '"num_layers"'));
  throws(
    () => parseVaeConfig({ block_out_channels: [32, 32], scaling_factor: 1e-300 }, "v.json"),
    named(CheckpointError, "v.json", "scaling_factor"),
  );
  throws(
    () => parseVaeConfig({ block_out_channels: Array(12).fill(32) }, "v.json"),
    named(CheckpointError, "block_out_channels (count)"),
  );
});

Deno.test("case 8: a sample size that cannot fit is refused with the numbers before any noise is drawn", async () => {
  // A 128 MiB binding (lavapipe's) whatever the adapter, so the outcome is the same everywhere.
  const gpu = await Gpu.create({ maxStorageBindingBytes: 128 * 2 ** 20 });
  const big = await modelCopy("dit-tiny-random", { config: (c) => (c.sample_size = 4096) });
  const model = await DiTModel.load(gpu, localFolder(big));
  const run = () => sampleDiT(model, { labels: [1], steps: 2 });
  await rejects(
    run(),
    named(
      OptionError,
      "DiT at 4096×4096 latents",
      "latent batch [1, 4, 4096, 4096] f32",
      "256 MiB",
    ),
  );
  const seconds = await timed(run);
  ok(seconds < 1, `refused after ${seconds.toFixed(2)} s`);
  model.release();
  const absurd = await modelCopy("dit-tiny-random", { config: (c) => (c.sample_size = 1e6) });
  await rejects(DiTModel.load(gpu, localFolder(absurd)), named(CheckpointError, '"sample_size"'));
  for (const dir of [big, absurd]) await Deno.remove(dir, { recursive: true });
  gpu.destroy();
});

Deno.test("cases 9 and 10: PixArt at 65536² px is refused at once; 4096² px warns with its estimate", async () => {
  const gpu = await Gpu.create({ maxStorageBindingBytes: 128 * 2 ** 20 });
  const model = await PixArtModel.load(gpu, localFolder(goldenPath("pixart-tiny-random")));
  const prompt = randomPrompt(8, 5, 1);
  const huge = () =>
    samplePixArt(model, {
      prompts: [prompt],
      negative: prompt,
      height: 65536,
      width: 65536,
      vaeScaleFactor: 8,
      steps: 2,
    });
  await rejects(
    huge(),
    named(OptionError, "PixArt at 65536×65536 px", "[1, 4, 8192, 8192] f32", "1.00 GiB", "128 MiB"),
  );
  const seconds = await timed(huge);
  ok(seconds < 1, `refused after ${seconds.toFixed(2)} s`);
  // 4096² px fits, but takes very long: one line with the estimate (a CPU adapter's rate).
  const cpu = { cpuKernels: true } as Gpu;
  const tokens = (px: number) => model.tokens(px / 8, px / 8);
  const run = { layers: model.layers, steps: 20, samples: 2 };
  const line = warnIfLongRun(cpu, pixartCostShape(model.config, tokens(4096)), run) ?? "";
  // Attention alone: 20 steps × 2 rows × 2 layers × 2·N²·C with N = 65536 tokens, C = 36.
  const attention = 20 * 2 * 2 * 2 * 65536 ** 2 * 36;
  const macs = Number(/about ([\d.e+]+) multiply-accumulates \(20 steps\)/.exec(line)?.[1]);
  ok(macs >= 0.99 * attention && macs < 1.1 * attention, line);
  ok(/at a nominal .* about \d+m\d\ds$/.test(line), line);
  equal(warnIfLongRun(cpu, pixartCostShape(model.config, tokens(256)), run), null);
  model.release();
  gpu.destroy();
});

Deno.test("case 11: a weights 'file' or a prompt that is a folder is named, without a stack", async () => {
  const gpu = await testGpu();
  const dir = await Deno.makeTempDir({ prefix: "bad-input-" });
  await Deno.copyFile(goldenPath("dit-tiny-random", "config.json"), join(dir, "config.json"));
  await Deno.mkdir(join(dir, "diffusion_pytorch_model.safetensors"));
  await rejects(
    DiTModel.load(gpu, localFolder(dir)),
    named(CheckpointError, "diffusion_pytorch_model.safetensors", "is a folder, not a file"),
  );
  await rejects(readPromptEmbeddingFile(dir, 40), named(CheckpointError, dir, "is a folder"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("DiTPipeline reports the VAE decode image by image", async () => {
  const gpu = await testGpu();
  const pipeline = await DiTPipeline.fromFolders(gpu, tinyDiTFolders());
  const decoded: [number, number][] = [];
  await pipeline.generate({
    labels: [1, 2, 3],
    steps: 2,
    onDecode: (image, images) => decoded.push([image, images]),
  });
  deepEqual(decoded, [[1, 3], [2, 3], [3, 3]]);
  pipeline.release();
});

Deno.test("case 14: calibration refuses a window no plan file could hold", async () => {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  await rejects(
    compress(model, { count: 1 }, { threshold: 0.1, steps: 2, window: 1e9 }),
    named(OptionError, `window 1000000000 exceeds the ${model.tokens()} tokens`),
  );
  model.release();
});
