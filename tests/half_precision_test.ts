/**
 * Half-precision weights: f16 storage of the DiT linears and the VAE convs stays within 2e-3 of
 * the goldens, and F16/BF16 checkpoints load correctly as f32 and as f16, on a device with
 * shader-f16 and on one without (the kernels widen f16 words themselves).
 */

import { strictEqual } from "node:assert";
import { join } from "node:path";
import { float32Tensors } from "../testing/model_copy.ts";
import { DiTModel } from "../models/dit/model.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { calibrateCommand } from "../cli/calibrate.ts";
import { pipelineCommand } from "../cli/pipeline.ts";
import { Gpu } from "../src/gpu/context.ts";
import { bf16BitsToFloat32, float32ToBf16Bits } from "../src/io/float_bits.ts";
import { type MemoryTensor, MemoryTensorSource } from "../src/io/memory_source.ts";
import type { WritableDtype } from "../src/io/safetensors_writer.ts";
import { parseDiTConfig } from "../models/dit/config.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath, tinyDiTFolderArgs, withGolden } from "./golden_files.ts";
import { readGolden } from "./golden_reader.ts";
import { relativeError, testGpu } from "./helpers.ts";
import { localFolder, openSafetensors, readJsonFile, writeSafetensors } from "../deno.ts";

/** The bound for f16 weights against the float64 goldens. */
const HALF_TOLERANCE = 2e-3;

/** Outputs of the golden forward cases, one sample per pass as in tests/dit_test.ts. */
async function forwardOutputs(model: DiTModel): Promise<{ ours: Float32Array; ref: Float32Array }> {
  return await withGolden("dit-tiny-random/forward.safetensors", async (file) => {
    const x = await file.readFloat32("x");
    const t = await file.readInt("t");
    const y = await file.readInt("y");
    const ref = await file.readFloat32("out");
    const shape = file.info("x").shape;
    const ours = new Float32Array(ref.length);
    const inPer = x.length / shape[0], outPer = ref.length / shape[0];
    for (let b = 0; b < shape[0]; b++) {
      const xs = Tensor.fromArray(model.gpu, x.subarray(b * inPer, (b + 1) * inPer), [
        1,
        ...shape.slice(1),
      ]);
      const ys = Tensor.fromArray(model.gpu, Int32Array.of(y[b]), [1], "i32");
      const out = model.forward(xs, t[b], ys);
      ours.set(await out.toFloat32(), b * outPer);
      for (const tensor of [xs, ys, out]) tensor.release();
    }
    return { ours, ref };
  });
}

/** The golden DiT rewritten with every tensor stored as `dtype`. */
async function convertedDiT(dtype: WritableDtype): Promise<string> {
  const folder = await Deno.makeTempDir({ prefix: `dit-${dtype}-` });
  await Deno.copyFile(goldenPath("dit-tiny-random", "config.json"), join(folder, "config.json"));
  const source = await openSafetensors(
    goldenPath("dit-tiny-random", "diffusion_pytorch_model.safetensors"),
  );
  const tensors = await float32Tensors(source, dtype);
  source.close();
  await writeSafetensors(join(folder, "diffusion_pytorch_model.safetensors"), tensors);
  return folder;
}

/** A device without shader-f16, as on adapters that lack it (llvmpipe over GL). */
function gpuWithoutF16(): Promise<Gpu> {
  return Gpu.create({ wantF16: false });
}

Deno.test("f16 DiT linear weights: forward within 2e-3 of the golden, with and without shader-f16", async () => {
  const plain = await gpuWithoutF16();
  strictEqual(plain.hasShaderF16, false);
  for (const gpu of [await testGpu(), plain]) {
    const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")), {
      dtype: "f16",
    });
    strictEqual(model.weights.blocks[0].fc1.weight.dtype, "f16");
    const { ours, ref } = await forwardOutputs(model);
    const error = relativeError(ours, ref);
    console.log(`shader-f16 ${gpu.hasShaderF16}: f16 forward error ${error.toExponential(2)}`);
    if (!(error <= HALF_TOLERANCE)) throw new Error(`f16 forward error ${error}`);
    // f32 storage of the same checkpoint stays at the f32 golden tolerance.
    const full = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
    const f32 = await forwardOutputs(full);
    if (!(relativeError(f32.ours, f32.ref) <= 1e-4)) throw new Error("f32 forward drifted");
    model.release();
    full.release();
  }
  plain.destroy();
});

Deno.test("F16 and BF16 checkpoints load as f32 and as f16, with and without shader-f16", async () => {
  const plain = await gpuWithoutF16();
  const f16Folder = await convertedDiT("F16");
  const bf16Folder = await convertedDiT("BF16");
  // The exact reference for the BF16 file: the golden weights rounded to bf16, held as f32.
  const config = parseDiTConfig(
    await readJsonFile(goldenPath("dit-tiny-random", "config.json")),
    "config.json",
  );
  const golden = await openSafetensors(
    goldenPath("dit-tiny-random", "diffusion_pytorch_model.safetensors"),
  );
  const rounded = new Map<string, MemoryTensor>();
  for (const name of golden.names()) {
    const data = bf16BitsToFloat32(float32ToBf16Bits(await golden.readFloat32(name)));
    rounded.set(name, { shape: golden.info(name).shape, data });
  }
  golden.close();
  for (const gpu of [await testGpu(), plain]) {
    for (const dtype of ["f32", "f16"] as const) {
      const half = await DiTModel.load(gpu, localFolder(f16Folder), { dtype });
      const fromF16 = await forwardOutputs(half);
      const f16Error = relativeError(fromF16.ours, fromF16.ref);
      if (!(f16Error <= HALF_TOLERANCE)) throw new Error(`F16 file as ${dtype}: ${f16Error}`);
      half.release();
      const brain = await DiTModel.load(gpu, localFolder(bf16Folder), { dtype });
      const reference = await DiTModel.fromSource(
        gpu,
        config,
        new MemoryTensorSource("bf16-rounded", rounded),
        { dtype },
      );
      const fromBf16 = await forwardOutputs(brain);
      const expected = await forwardOutputs(reference);
      // BF16 → f32 and BF16 → f16 are exact for these values: the same model bit for bit.
      const loadError = relativeError(fromBf16.ours, expected.ours);
      if (!(loadError <= 1e-6)) throw new Error(`BF16 file as ${dtype}: ${loadError}`);
      console.log(
        `shader-f16 ${gpu.hasShaderF16}, ${dtype}: F16 file ${f16Error.toExponential(2)} ` +
          `vs golden; BF16 file ${relativeError(fromBf16.ours, fromBf16.ref).toExponential(2)}`,
      );
      brain.release();
      reference.release();
    }
  }
  plain.destroy();
  await Deno.remove(f16Folder, { recursive: true });
  await Deno.remove(bf16Folder, { recursive: true });
});

Deno.test("f16 VAE conv weights: decode within 2e-3 of the golden, with and without shader-f16", async () => {
  const plain = await gpuWithoutF16();
  const golden = await readGolden(goldenPath("vae-tiny-random", "decode.safetensors"));
  const latents = golden.get("latents")!;
  for (const gpu of [await testGpu(), plain]) {
    const decoder = await VaeDecoder.load(gpu, localFolder(goldenPath("vae-tiny-random")), {
      dtype: "f16",
    });
    const x = Tensor.fromArray(gpu, latents.data, latents.shape);
    const image = decoder.decode(x);
    const raw = decoder.decodeRaw(x);
    const errors = [
      relativeError(await image.toFloat32(), golden.get("image")!.data),
      relativeError(await raw.toFloat32(), golden.get("decoder_raw")!.data),
    ];
    console.log(`shader-f16 ${gpu.hasShaderF16}: f16 VAE image/raw errors ${errors}`);
    if (!errors.every((e) => e <= HALF_TOLERANCE)) throw new Error(`f16 VAE errors ${errors}`);
    for (const t of [x, image, raw]) t.release();
    decoder.release();
  }
  plain.destroy();
});

Deno.test("cli --dtype f16: calibrate a plan with f16 weights, then sample with it via pipeline", async () => {
  const folder = await Deno.makeTempDir({ prefix: "dtype-cli-" });
  const plan = join(folder, "plan.json");
  await calibrateCommand([
    "--model",
    goldenPath("dit-tiny-random"),
    "--threshold",
    "0.1",
    "--n-calib",
    "2",
    "--steps",
    "4",
    "--dtype",
    "f16",
    "--out",
    plan,
  ]);
  const out = join(folder, "compressed.png");
  await pipelineCommand([
    ...tinyDiTFolderArgs(),
    "--labels",
    "3,4",
    "--plan",
    plan,
    "--dtype",
    "f16",
    "--out",
    out,
  ]);
  await Deno.stat(out);
  await Deno.remove(folder, { recursive: true });
});
