import { parseVaeConfig } from "../models/vae/config.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { expectedVaeShapes } from "../models/vae/weights.ts";
import { CheckpointError, ShapeError } from "../src/errors.ts";
import type { Gpu } from "../src/gpu/context.ts";
import { type MemoryTensor, MemoryTensorSource } from "../src/io/memory_source.ts";
import type { TensorSource } from "../src/io/safetensors.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { goldenPath, readGoldenJson } from "./golden_files.ts";
import { readGolden } from "./golden_reader.ts";
import { assertRelativeError, relativeError, testGpu } from "./helpers.ts";
import { localFolder, openCheckpoint, readJsonFile } from "../deno.ts";

const CASE = "vae-tiny-random";
// The golden run is float32 PyTorch; ours differs in summation order and in fusing the 1/√C
// attention scale into q, both ~1e-7 relative per op.
const GOLDEN_TOLERANCE = 1e-4;

async function decodeGolden(
  gpu: Gpu,
  decoder: VaeDecoder,
): Promise<{ image: number; raw: number }> {
  const golden = await readGolden(goldenPath(CASE, "decode.safetensors"));
  const latents = golden.get("latents")!;
  const x = Tensor.fromArray(gpu, latents.data, latents.shape);
  const image = decoder.decode(x);
  const raw = decoder.decodeRaw(x);
  const expectedImage = golden.get("image")!;
  const expectedRaw = golden.get("decoder_raw")!;
  if (image.shape.join() !== expectedImage.shape.join()) {
    throw new Error(`image shape [${image.shape}] != golden [${expectedImage.shape}]`);
  }
  const errors = {
    image: relativeError(await image.toFloat32(), expectedImage.data),
    raw: relativeError(await raw.toFloat32(), expectedRaw.data),
  };
  for (const t of [x, image, raw]) t.release();
  return errors;
}

Deno.test("VaeDecoder matches the diffusers golden decode (vae-tiny-random)", async () => {
  const gpu = await testGpu();
  const manifest = await readGoldenJson("manifest.json");
  const entry = (manifest.cases as Record<string, { config: { block_out_channels: number[] } }>)[
    CASE
  ];
  const decoder = await VaeDecoder.load(gpu, localFolder(goldenPath(CASE)));
  if (decoder.config.blockOutChannels.join() !== entry.config.block_out_channels.join()) {
    throw new Error("config.json disagrees with the manifest");
  }
  const liveBefore = gpu.pool.liveBytes;
  const errors = await decodeGolden(gpu, decoder);
  console.log(
    `vae-tiny-random: image ${errors.image.toExponential(2)}, raw ${errors.raw.toExponential(2)}`,
  );
  if (!(errors.image <= GOLDEN_TOLERANCE) || !(errors.raw <= GOLDEN_TOLERANCE)) {
    throw new Error(`golden relative error ${JSON.stringify(errors)} > ${GOLDEN_TOLERANCE}`);
  }
  await gpu.sync();
  if (gpu.pool.liveBytes !== liveBefore) {
    throw new Error(`decode leaked ${gpu.pool.liveBytes - liveBefore} bytes`);
  }
  decoder.release();
});

/** The golden weights under other names/shapes, for the naming variants old checkpoints use. */
async function goldenSourceWith(
  rename: (name: string) => string,
  reshape: (name: string, shape: number[]) => number[] = (_n, s) => s,
  extra: Record<string, { data: Float32Array; shape: number[] }> = {},
): Promise<TensorSource> {
  const checkpoint = await openCheckpoint(goldenPath(CASE));
  const tensors = new Map<string, MemoryTensor>(Object.entries(extra));
  for (const name of checkpoint.names()) {
    tensors.set(rename(name), {
      data: await checkpoint.readFloat32(name),
      shape: reshape(name, checkpoint.info(name).shape),
    });
  }
  checkpoint.close();
  return new MemoryTensorSource("renamed-golden", tensors);
}

Deno.test("VaeDecoder accepts legacy attention names, 1×1-conv projections and encoder keys", async () => {
  const gpu = await testGpu();
  const config = parseVaeConfig(
    await readJsonFile(goldenPath(CASE, "config.json")),
    "config.json",
  );
  const legacy: Record<string, string> = {
    to_q: "query",
    to_k: "key",
    to_v: "value",
    "to_out.0": "proj_attn",
  };
  const source = await goldenSourceWith(
    (name) => name.replace(/\.(to_q|to_k|to_v|to_out\.0)\./, (_m, p) => `.${legacy[p]}.`),
    (name, shape) =>
      /attentions\.0\.\w+\.weight$/.test(name) && shape.length === 2 && !name.includes("norm")
        ? [...shape, 1, 1]
        : shape,
    {
      "encoder.conv_in.weight": { data: new Float32Array(16 * 3 * 9), shape: [16, 3, 3, 3] },
      "quant_conv.weight": { data: new Float32Array(64), shape: [8, 8, 1, 1] },
    },
  );
  const decoder = await VaeDecoder.fromSource(gpu, config, source);
  const errors = await decodeGolden(gpu, decoder);
  if (!(errors.image <= GOLDEN_TOLERANCE)) throw new Error(`legacy names: ${errors.image}`);
  decoder.release();
});

Deno.test("VaeDecoder reports every missing or mis-shaped weight in one CheckpointError", async () => {
  const gpu = await testGpu();
  const config = parseVaeConfig(
    await readJsonFile(goldenPath(CASE, "config.json")),
    "config.json",
  );
  const source = await goldenSourceWith(
    (name) => name === "decoder.conv_in.bias" ? "decoder.conv_in.bias_renamed" : name,
    (name, shape) => name === "decoder.conv_out.weight" ? [shape[0], shape[1], 9] : shape,
  );
  let message = "";
  try {
    await VaeDecoder.fromSource(gpu, config, source);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    message = e.message;
  }
  for (
    const fragment of ["missing decoder.conv_in.bias", "decoder.conv_out.weight: expected shape"]
  ) {
    if (!message.includes(fragment)) throw new Error(`"${fragment}" not in: ${message}`);
  }
  // A full AutoencoderKL's encoder keys are not "unexpected"; renamed decoder keys are.
  if (!message.includes("unexpected decoder.conv_in.bias_renamed")) throw new Error(message);
});

Deno.test("VaeDecoder rejects latents of the wrong shape", async () => {
  const gpu = await testGpu();
  const decoder = await VaeDecoder.load(gpu, localFolder(goldenPath(CASE)));
  const wrong = Tensor.fromArray(gpu, new Float32Array(2 * 3 * 16), [2, 3, 4, 4]);
  assertThrows(() => decoder.decode(wrong), ShapeError, "latents must be f32 [B, 4, h, w]");
  wrong.release();
  decoder.release();
  assertThrows(() => decoder.decode(wrong), Error, "after release");
});

Deno.test("VAE config parsing and expected shapes", async () => {
  const config = parseVaeConfig(
    await readJsonFile(goldenPath(CASE, "config.json")),
    "config.json",
  );
  if (config.normGroups !== 8 || config.scalingFactor !== 0.18215) throw new Error("defaults");
  const shapes = expectedVaeShapes(config);
  // 1 conv_shortcut (32 → 16 in the last block); two upsamplers for three levels.
  const shortcuts = [...shapes.keys()].filter((k) => k.includes("conv_shortcut"));
  const upsamplers = [...shapes.keys()].filter((k) => k.includes("upsamplers"));
  if (shortcuts.length !== 2 || upsamplers.length !== 4) {
    throw new Error(`shortcuts ${shortcuts}, upsamplers ${upsamplers}`);
  }
  assertThrows(
    () => parseVaeConfig({ block_out_channels: [30], norm_num_groups: 32 }, "c.json"),
    CheckpointError,
    "does not divide",
  );
  assertThrows(
    () => parseVaeConfig({ _class_name: "AutoencoderTiny" }, "c.json"),
    CheckpointError,
    "not AutoencoderKL",
  );
});

Deno.test("VaeDecoder applies shift_factor after the scaling (SD3/Flux convention)", async () => {
  const gpu = await testGpu();
  const raw = await readJsonFile(goldenPath(CASE, "config.json"));
  const shift = 0.25;
  const plain = parseVaeConfig(raw, "config.json");
  const shifted = parseVaeConfig({ ...raw, shift_factor: shift }, "config.json");
  const checkpoint = await openCheckpoint(goldenPath(CASE));
  const a = await VaeDecoder.fromSource(gpu, plain, checkpoint);
  const b = await VaeDecoder.fromSource(gpu, shifted, checkpoint);
  checkpoint.close();
  // latents/s + shift = (latents + shift·s)/s.
  const latents = new Float32Array(4 * 4 * 4).map((_, i) => Math.sin(i));
  const moved = latents.map((v) => v + shift * plain.scalingFactor);
  const x = Tensor.fromArray(gpu, latents, [1, 4, 4, 4]);
  const y = Tensor.fromArray(gpu, moved, [1, 4, 4, 4]);
  const fromShift = b.decodeRaw(x);
  const fromMoved = a.decodeRaw(y);
  assertRelativeError(await fromShift.toFloat32(), await fromMoved.toFloat32(), 1e-5, "shift");
  for (const t of [x, y, fromShift, fromMoved]) t.release();
  a.release();
  b.release();
});
