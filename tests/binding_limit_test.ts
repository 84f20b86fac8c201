/**
 * Tensors larger than one storage binding: split where the kernels can (VAE activations), else
 * refused with an error naming the tensor and the limit, before WebGPU sees the binding. A
 * device with a small fake limit (GpuOptions.maxStorageBindingBytes) stands in for big models.
 */

import { strictEqual } from "node:assert";
import { DiTModel } from "../models/dit/model.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { DeviceError } from "../src/errors.ts";
import { Gpu } from "../src/gpu/context.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath } from "./golden_files.ts";
import { readGolden } from "./golden_reader.ts";
import { assertRelativeError, decodeImages, randomArray, testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

async function deviceError(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof DeviceError)) throw error;
    return error.message;
  }
  throw new Error("expected a DeviceError, nothing was thrown");
}

function expectFragments(message: string, fragments: readonly string[]): void {
  for (const fragment of fragments) {
    if (!message.includes(fragment)) throw new Error(`"${fragment}" not in: ${message}`);
  }
}

Deno.test("binding limit: weights that cannot be bound are refused before any upload", async () => {
  const gpu = await Gpu.create({ maxStorageBindingBytes: 8192 });
  strictEqual(gpu.limits.maxStorageBufferBindingSize, 8192);
  // The other limits still read through to the device.
  strictEqual(gpu.limits.maxBufferSize, gpu.device.limits.maxBufferSize);
  const live = gpu.pool.liveBytes;
  const dit = await deviceError(() =>
    DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")))
  );
  expectFragments(dit, [
    "maxStorageBufferBindingSize of 8192 bytes",
    // fc1 [128, 32] f32 and the stacked q/k/v [96, 32] f32
    "transformer_blocks.0.ff.net.0.proj.weight [128,32] f32: 16384 bytes",
    "transformer_blocks.2.attn1.qkv.weight [96,32] f32: 12288 bytes",
  ]);
  // Half precision halves them: qkv fits, the adaLN matrix [192, 32] still does not.
  const half = await deviceError(() =>
    DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")), { dtype: "f16" })
  );
  expectFragments(half, ["transformer_blocks.0.norm1.linear.weight [192,32] f16: 12288 bytes"]);
  if (half.includes("qkv")) throw new Error(`qkv should fit as f16: ${half}`);
  const vae = await deviceError(() =>
    VaeDecoder.load(gpu, localFolder(goldenPath("vae-tiny-random")))
  );
  expectFragments(vae, ["decoder.mid_block.resnets.0.conv1.weight [32,32,3,3] f32: 36864 bytes"]);
  strictEqual(gpu.pool.liveBytes, live);
  gpu.destroy();
});

Deno.test("binding limit: an activation over the limit is a DeviceError naming kernel, tensor and limit", async () => {
  // Every tiny-DiT weight fits 64 KiB. The blocks split their MLP and attention rows to fit a
  // binding (a batch of 8 runs), but the patch embedding writes the hidden states whole: for a
  // batch of 16 that is [16, 64, 32] f32, 128 KiB.
  const gpu = await Gpu.create({ maxStorageBindingBytes: 64 * 1024 });
  const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
  const batch = 16;
  const x = Tensor.fromArray(gpu, randomArray(batch * 4 * 16 * 16, 1), [batch, 4, 16, 16]);
  const labels = Tensor.fromArray(gpu, new Int32Array(batch), [batch], "i32");
  const message = await deviceError(() => model.forward(x, 500, labels));
  expectFragments(message, [
    "kernel patchEmbed",
    `tensor "patchEmbed" [16,64,32] f32`,
    "over this device's maxStorageBufferBindingSize of 65536 bytes",
  ]);
  console.log(message);
  // Refused while recording: WebGPU itself saw nothing invalid.
  await gpu.sync();
  // A batch that fits runs on the same device.
  const one = Tensor.fromArray(gpu, randomArray(4 * 16 * 16, 2), [1, 4, 16, 16]);
  const label = Tensor.fromArray(gpu, new Int32Array(1), [1], "i32");
  const out = model.forward(one, 500, label);
  strictEqual(out.shape.join(), "1,8,16,16");
  await out.toFloat32();
  model.release();
  gpu.destroy();
});

Deno.test("binding limit: the DiT blocks split rows over the limit, same output", async () => {
  // Batch 8 of the tiny DiT: the MLP's [512, 128] activation (256 KiB) and the packed qkv
  // (192 KiB) exceed 64 KiB and go through row chunks; the result must be the unsplit one.
  const batch = 8;
  const input = randomArray(batch * 4 * 16 * 16, 3);
  const forward = async (gpu: Gpu) => {
    const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
    const x = Tensor.fromArray(gpu, input, [batch, 4, 16, 16]);
    const labels = Tensor.fromArray(gpu, Int32Array.from({ length: batch }, (_, i) => i), [
      batch,
    ], "i32");
    const out = model.forward(x, 500, labels);
    const values = await out.toFloat32();
    for (const t of [x, labels, out]) t.release();
    model.release();
    return values;
  };
  const limited = await Gpu.create({ maxStorageBindingBytes: 64 * 1024 });
  const split = await forward(limited);
  limited.destroy();
  const whole = await forward(await testGpu());
  assertRelativeError(split, whole, 1e-6, "row-split vs whole DiT forward");
});

Deno.test("binding limit: the VAE decode splits activations by sample and channel, same image", async () => {
  const golden = await readGolden(goldenPath("vae-tiny-random", "decode.safetensors"));
  const latents = golden.get("latents")!;
  // 40 KiB: every weight fits (the largest is 36 KiB), a 16-channel 32×32 activation (64 KiB
  // per sample) must be split into channel slabs, and the batch of 2 into samples.
  const gpu = await Gpu.create({ maxStorageBindingBytes: 40 * 1024 });
  const decoder = await VaeDecoder.load(gpu, localFolder(goldenPath("vae-tiny-random")));
  const split = await decodeImages(decoder, latents.data, latents.shape);
  decoder.release();
  gpu.destroy();
  assertRelativeError(split, golden.get("image")!.data, 1e-4, "split decode vs golden");
  const whole = await VaeDecoder.load(await testGpu(), localFolder(goldenPath("vae-tiny-random")));
  const reference = await decodeImages(whole, latents.data, latents.shape);
  assertRelativeError(split, reference, 1e-6, "split vs whole decode");
  whole.release();
});
