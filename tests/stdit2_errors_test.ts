/** Bad STDiT2 checkpoints, configs, captions and sizes fail early with errors that name them. */

import { join } from "node:path";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { VideoConditioning } from "../models/stdit2/conditioning.ts";
import { parseSTDiT2Config } from "../models/stdit2/config.ts";
import { latentVideo } from "../models/stdit2/sample.ts";
import { CheckpointError, OptionError, ShapeError } from "../src/errors.ts";
import { editedModelCopy, type ModelEdit } from "../testing/model_copy.ts";
import { Tensor } from "../src/tensor.ts";
import { assertRejects, assertThrows } from "./asserts.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

const TINY = "stdit-tiny-random";

/** A copy of the tiny golden STDiT2 folder with an edited config and tensors. */
function modelCopy(edit: ModelEdit): Promise<string> {
  return editedModelCopy(goldenPath(TINY), edit, "stdit2-bad-");
}

Deno.test("STDiT2 checkpoint problems are listed with file, tensor, expected and actual shapes", async () => {
  const gpu = await testGpu();
  const dir = await modelCopy({
    tensors: (t) => {
      t["blocks.1.attn.qkv.weight"] = {
        dtype: "F32",
        shape: [96, 96],
        data: new Float32Array(96 * 96),
      };
      delete t["blocks.0.cross_attn.kv_linear.bias"];
      t["pos_embed"] = { dtype: "F32", shape: [1, 4], data: new Float32Array(4) };
    },
  });
  await assertRejects(
    () => STDiT2Model.load(gpu, localFolder(dir)),
    CheckpointError,
    join(dir, "diffusion_pytorch_model.safetensors"),
    "blocks.1.attn.qkv.weight: expected shape [288,96], got [96,96]",
    "missing blocks.0.cross_attn.kv_linear.bias [192]",
    "unexpected pos_embed [1,4]",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("STDiT2 without y_embedding names the null caption", async () => {
  const gpu = await testGpu();
  const dir = await modelCopy({ tensors: (t) => delete t["y_embedder.y_embedding"] });
  await assertRejects(
    () => STDiT2Model.load(gpu, localFolder(dir)),
    CheckpointError,
    "missing y_embedder.y_embedding [6, 32]",
    "null caption",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("STDiT2 configs: other models, bad widths, qk_norm off without norm weights", async () => {
  const gpu = await testGpu();
  assertThrows(
    () => parseSTDiT2Config({ _class_name: "DiTTransformer2DModel" }, "c.json"),
    CheckpointError,
    "not an Open-Sora STDiT2",
  );
  assertThrows(
    () => parseSTDiT2Config({ hidden_size: 96, num_heads: 5 }, "c.json"),
    CheckpointError,
    "not divisible by num_heads 5",
  );
  assertThrows(
    () => parseSTDiT2Config({ patch_size: [2, 2] }, "c.json"),
    CheckpointError,
    "patch_size",
  );
  // The hub form (architectures / model_type) parses like the plain one.
  const hub = parseSTDiT2Config(
    { architectures: ["STDiT2"], model_type: "stdit2", hidden_size: 96, num_heads: 4 },
    "c.json",
  );
  if (hub.hiddenSize !== 96 || hub.outChannels !== 8) throw new Error("hub config misread");
  // qk_norm false: the norm weights of the checkpoint are unexpected.
  const dir = await modelCopy({ config: (c) => (c.qk_norm = false) });
  await assertRejects(
    () => STDiT2Model.load(gpu, localFolder(dir)),
    CheckpointError,
    "unexpected blocks.0.attn.q_norm.weight [24]",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("STDiT2 inputs: caption length vs mask, empty masks, widths, batch, sizes", async () => {
  const gpu = await testGpu();
  const info = { height: 48, width: 72, frames: 4, fps: 24 };
  const shape = { batch: 1, tokens: 6, channels: 32 };
  assertThrows(
    () => VideoConditioning.create(gpu, new Float32Array(6 * 32), [1, 1, 1, 0], shape, info),
    OptionError,
    "caption length and mask length must agree",
  );
  assertThrows(
    () =>
      VideoConditioning.create(gpu, new Float32Array(6 * 32), new Array(6).fill(0), shape, info),
    OptionError,
    "keeps no token",
  );
  assertThrows(
    () =>
      VideoConditioning.create(gpu, new Float32Array(6 * 32), new Array(6).fill(1), shape, {
        ...info,
        fps: 0,
      }),
    OptionError,
    "fps must be positive",
  );
  const model = await STDiT2Model.load(gpu, localFolder(goldenPath(TINY)));
  const wide = VideoConditioning.create(
    gpu,
    new Float32Array(6 * 40),
    new Array(6).fill(1),
    { batch: 1, tokens: 6, channels: 40 },
    info,
  );
  const x = Tensor.fromArray(gpu, new Float32Array(4 * 4 * 6 * 9), [1, 4, 4, 6, 9]);
  assertThrows(() => model.forward(x, 10, wide), ShapeError, "caption_channels");
  const two = VideoConditioning.create(
    gpu,
    new Float32Array(2 * 6 * 32),
    new Array(12).fill(1),
    { ...shape, batch: 2 },
    info,
  );
  assertThrows(() => model.forward(x, 10, two), ShapeError, "covers 2 samples");
  const flat = Tensor.fromArray(gpu, new Float32Array(4 * 6 * 9), [1, 4, 6, 9]);
  assertThrows(() => model.forward(flat, 10, wide), ShapeError, "[B, 4, T, H, W]");
  assertThrows(() => latentVideo({ height: 4 }), OptionError, "height (pixels) must be");
  assertThrows(() => latentVideo({ frames: 0 }), OptionError, "frame count");
  const odd = latentVideo({ height: 240, width: 426 });
  if (odd.latentWidth !== 53 || odd.latentHeight !== 30) throw new Error("426 px → latent 53");
  if (model.grid(16, 30, 53).tokensPerFrame !== 405) throw new Error("53 pads to 27 columns");
  for (const t of [x, flat]) t.release();
  wide.release();
  two.release();
  model.release();
});
