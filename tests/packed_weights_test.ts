/**
 * Freeing the buffer copy of linear weights once they are packed into the linear kernel's
 * textures (DiTLoadOptions.freePackedWeights): same outputs, one copy of each weight.
 */

import { strictEqual } from "node:assert";
import { DiTModel } from "../models/dit/model.ts";
import { ShapeError } from "../src/errors.ts";
import {
  keepWeightInTexture,
  linear,
  linearCacheBytes,
  releaseLinearCaches,
} from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { goldenPath } from "./golden_files.ts";
import { randomArray, testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

async function forwardOnce(model: DiTModel): Promise<Float32Array> {
  const gpu = model.gpu;
  const x = Tensor.fromArray(gpu, randomArray(2 * 4 * 16 * 16, 3), [2, 4, 16, 16]);
  const labels = Tensor.fromArray(gpu, Int32Array.of(3, 10), [2], "i32");
  const out = model.forward(x, 700, labels);
  const values = await out.toFloat32();
  for (const t of [x, labels, out]) t.release();
  return values;
}

Deno.test("freePackedWeights: the same forward pass with one copy of each large weight", async () => {
  const gpu = await testGpu();
  await gpu.sync();
  const start = gpu.pool.liveBytes;
  const plain = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
  const plainBytes = gpu.pool.liveBytes - start;
  const expected = await forwardOnce(plain);
  for (const dtype of ["f32", "f16"] as const) {
    await gpu.sync();
    const before = gpu.pool.liveBytes;
    const packed = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")), {
      dtype,
      freePackedWeights: true,
    });
    await gpu.sync();
    const packedBytes = gpu.pool.liveBytes - before;
    // adaLN [192,32], qkv [96,32], out [32,32], fc1 [128,32], fc2 [32,128] per block, 3 blocks.
    const freed = 3 * (192 + 96 + 32 + 128 + 128) * 32 * (dtype === "f16" ? 2 : 4);
    const f16Savings = dtype === "f16" ? freed : 0; // the f16 model's buffers were half already
    strictEqual(plainBytes - packedBytes, freed + f16Savings, `${dtype} buffer bytes`);
    const ours = await forwardOnce(packed);
    if (dtype === "f32") {
      strictEqual(ours.every((v, i) => v === expected[i]), true, "f32 outputs identical");
    }
    const fc1 = packed.weights.blocks[0].fc1.weight;
    strictEqual(fc1.detached, true);
    assertThrows(() => fc1.binding(), ShapeError, "only linear() can read it");
    // Dropping the caches keeps textures that are a weight's only copy.
    releaseLinearCaches(gpu);
    const again = await forwardOnce(packed);
    strictEqual(again.every((v, i) => v === ours[i]), true, "forward after releaseLinearCaches");
    const cached = linearCacheBytes(gpu);
    packed.release();
    await gpu.sync();
    if (!(linearCacheBytes(gpu) < cached)) throw new Error("releasing the model kept textures");
    strictEqual(gpu.pool.liveBytes, before, "no leak after release");
  }
  plain.release();
});

Deno.test("keepWeightInTexture: a lone weight keeps working through linear() and frees on release", async () => {
  const gpu = await testGpu();
  const w = Tensor.fromArray(gpu, randomArray(40 * 24, 5), [40, 24], "f32", "lone.weight");
  const x = Tensor.fromArray(gpu, randomArray(7 * 24, 6), [7, 24]);
  const first = linear(x, w);
  const before = await first.toFloat32();
  first.release();
  strictEqual(keepWeightInTexture(w), true);
  const after = linear(x, w);
  strictEqual((await after.toFloat32()).every((v, i) => v === before[i]), true);
  assertThrows(() => keepWeightInTexture(w), ShapeError, "lone.weight");
  const view = Tensor.fromArray(gpu, new Float32Array(8), [2, 4]);
  const alias = view.reshape([4, 2]);
  assertThrows(() => keepWeightInTexture(view), ShapeError, "views share its buffer");
  for (const t of [x, after, w, view, alias]) t.release();
});
