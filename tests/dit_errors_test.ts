/** Bad DiT inputs fail early with errors that name the problem. */

import { join } from "node:path";
import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { editedModelCopy, type ModelEdit } from "../testing/model_copy.ts";
import { CheckpointError, OptionError, PlanError, ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";
import { assertRejects } from "./asserts.ts";

/** A copy of the tiny golden model folder with an edited config and tensors. */
function modelCopy(edit: ModelEdit): Promise<string> {
  return editedModelCopy(goldenPath("dit-tiny-random"), edit);
}

Deno.test("missing folder, missing weights, and a config that is not a DiT", async () => {
  const gpu = await testGpu();
  await assertRejects(
    () => DiTModel.load(gpu, localFolder("/nonexistent/model")),
    CheckpointError,
    /\/nonexistent\/model does not exist/,
  );
  const empty = await Deno.makeTempDir();
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(empty)),
    CheckpointError,
    /config\.json/,
  );
  const unet = await modelCopy({ config: (c) => (c._class_name = "UNet2DConditionModel") });
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(unet)),
    CheckpointError,
    /UNet2DConditionModel, not a DiT/,
  );
  const pixart = await modelCopy({ config: (c) => (c.norm_type = "ada_norm_single") });
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(pixart)),
    CheckpointError,
    /norm_type "ada_norm_single"/,
  );
  const odd = await modelCopy({ config: (c) => (c.sample_size = 15) });
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(odd)),
    CheckpointError,
    /sample_size 15 is not divisible by patch_size 2/,
  );
  const noWeights = await Deno.makeTempDir();
  await Deno.copyFile(goldenPath("dit-tiny-random", "config.json"), join(noWeights, "config.json"));
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(noWeights)),
    CheckpointError,
    /safetensors/,
  );
});

Deno.test("every missing, unexpected, mis-shaped and mis-typed tensor is listed in one error", async () => {
  const gpu = await testGpu();
  const dir = await modelCopy({
    tensors: (t) => {
      delete t["proj_out_2.bias"];
      t["extra.weight"] = { dtype: "F32", shape: [2], data: new Float32Array(2) };
      t["transformer_blocks.1.attn1.to_q.weight"] = {
        dtype: "F32",
        shape: [32, 31],
        data: new Float32Array(32 * 31),
      };
      t["transformer_blocks.0.ff.net.2.bias"] = {
        dtype: "I32",
        shape: [32],
        data: new Int32Array(32),
      };
    },
  });
  await assertRejects(
    () => DiTModel.load(gpu, localFolder(dir)),
    CheckpointError,
    /4 problem\(s\)/,
    /missing proj_out_2\.bias \[32\]/,
    /unexpected extra\.weight \[2\]/,
    /transformer_blocks\.1\.attn1\.to_q\.weight: expected shape \[32,32\], got \[32,31\]/,
    /transformer_blocks\.0\.ff\.net\.2\.bias: dtype I32 is not a float type/,
  );
});

Deno.test("labels out of range, sizes not divisible by the patch, and bad plans fail before sampling", async () => {
  const gpu = await testGpu();
  const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
  await assertRejects(
    () => sampleDiT(model, { labels: [10] }),
    OptionError,
    /label 10 is out of range.*0\.\.9/,
  );
  await assertRejects(() => sampleDiT(model, { labels: [-1] }), OptionError, /out of range/);
  await assertRejects(
    () => sampleDiT(model, { labels: [] }),
    OptionError,
    /at least one class label/,
  );
  const x = Tensor.fromArray(gpu, new Float32Array(4 * 15 * 15), [1, 4, 15, 15]);
  const y = Tensor.fromArray(gpu, Int32Array.of(1), [1], "i32");
  await assertRejects(
    () => Promise.resolve(model.forward(x, 10, y)),
    ShapeError,
    /15×15 is not divisible by the patch size 2/,
  );
  const plan = {
    window: 4,
    methods: Array.from({ length: 3 }, () => ["FULL_ATTN", "FULL_ATTN_CFG_SHARE"] as const).map((
      r,
    ) => [...r]),
  };
  await assertRejects(
    () => sampleDiT(model, { labels: [1], steps: 2, cfgScale: 1, plan }),
    PlanError,
    /needs classifier-free guidance/,
  );
  await assertRejects(
    () => sampleDiT(model, { labels: [1], steps: 3, plan }),
    PlanError,
    /2 steps, sampling uses 3/,
  );
  x.release();
  y.release();
  model.release();
});
