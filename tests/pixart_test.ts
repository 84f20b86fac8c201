/** The PixArt forward pass against the float64 goldens (non-square latent, text mask, size conditioning). */

import { join } from "node:path";
import { CaptionConditioning } from "../src/nn/caption_conditioning.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { Gpu } from "../src/gpu/context.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath, withGolden } from "./golden_files.ts";
import { assertRelativeError, randomArray, relativeError, testGpu } from "./helpers.ts";
import {
  loadTinyPixArt,
  randomPrompt,
  TINY_CAPTION_CHANNELS,
  TINY_PIXART,
} from "./pixart_fixtures.ts";
import { localFolder, openSafetensors, writeSafetensors } from "../deno.ts";

const TOLERANCE = 1e-4;

/** Runs every golden sample alone (our forward takes one timestep per pass) and returns the errors. */
async function goldenErrors(folder: string): Promise<number[]> {
  const model = await PixArtModel.load(await testGpu(), localFolder(goldenPath(folder)));
  const gpu = model.gpu;
  try {
    return await withGolden(`${folder}/forward.safetensors`, async (file) => {
      const x = await file.readFloat32("x");
      const t = await file.readInt("t");
      const caption = await file.readFloat32("encoder_hidden_states");
      const mask = Float32Array.from(await file.readInt("encoder_attention_mask"));
      const resolution = await file.readFloat32("resolution");
      const aspect = await file.readFloat32("aspect_ratio");
      const expected = await file.readFloat32("out");
      const [batch, ...latent] = file.info("x").shape;
      const [, length, channels] = file.info("encoder_hidden_states").shape;
      const slice = (values: Float32Array, b: number) => {
        const n = values.length / batch;
        return values.subarray(b * n, (b + 1) * n);
      };
      const errors: number[] = [];
      for (let b = 0; b < batch; b++) {
        const xs = Tensor.fromArray(gpu, slice(x, b), [1, ...latent]);
        const conditioning = new CaptionConditioning(
          Tensor.fromArray(gpu, slice(caption, b), [1, length, channels]),
          Tensor.fromArray(gpu, slice(mask, b), [1, length]),
          { resolution: [...slice(resolution, b)], aspectRatio: [...slice(aspect, b)] },
        );
        const out = model.forward(xs, t[b], conditioning);
        errors.push(relativeError(await out.toFloat32(), slice(expected, b)));
        for (const tensor of [xs, out]) tensor.release();
        conditioning.release();
      }
      return errors;
    });
  } finally {
    model.release();
  }
}

for (const folder of ["pixart-tiny-random", "pixart-tiny-random-sizecond"]) {
  Deno.test(`PixArt forward matches ${folder} (≤${TOLERANCE} rel)`, async () => {
    const errors = await goldenErrors(folder);
    console.log(`${folder}: relative errors ${errors.map((e) => e.toExponential(2)).join(", ")}`);
    for (const [b, err] of errors.entries()) {
      if (!(err <= TOLERANCE)) {
        throw new Error(`${folder} sample ${b}: relative error ${err.toExponential(3)}`);
      }
    }
  });
}

/** Two samples with different captions (the second partly masked) at one timestep. */
function twoSampleInputs(gpu: Gpu, sample?: number) {
  const prompts = [randomPrompt(7, 7, 1), randomPrompt(7, 4, 2)];
  const x = randomArray(2 * 4 * 16 * 12, 3);
  const rows = sample === undefined ? [0, 1] : [sample];
  const perSample = 4 * 16 * 12;
  // The chosen samples' values, one after another (a few thousand numbers at most).
  const values = (pick: (b: number) => Float32Array) =>
    Float32Array.from(rows.flatMap((b) => Array.from(pick(b))));
  return {
    x: Tensor.fromArray(
      gpu,
      values((b) => x.subarray(b * perSample, (b + 1) * perSample)),
      [rows.length, 4, 16, 12],
    ),
    conditioning: new CaptionConditioning(
      Tensor.fromArray(gpu, values((b) => prompts[b].embeds), [
        rows.length,
        7,
        TINY_CAPTION_CHANNELS,
      ]),
      Tensor.fromArray(gpu, values((b) => prompts[b].mask), [rows.length, 7]),
    ),
  };
}

async function forwardValues(model: PixArtModel, sample?: number): Promise<Float32Array> {
  const { x, conditioning } = twoSampleInputs(model.gpu, sample);
  const out = model.forward(x, 500, conditioning);
  const values = await out.toFloat32();
  for (const t of [x, out]) t.release();
  conditioning.release();
  return values;
}

Deno.test("PixArt: a batch of two gives each sample's own output (per-sample masks)", async () => {
  const model = await loadTinyPixArt();
  const batch = await forwardValues(model);
  const half = batch.length / 2;
  assertRelativeError(batch.subarray(0, half), await forwardValues(model, 0), 1e-6, "sample 0");
  assertRelativeError(batch.subarray(half), await forwardValues(model, 1), 1e-6, "sample 1");
  model.release();
});

Deno.test("PixArt: a sharded checkpoint loads the same model", async () => {
  const dir = await Deno.makeTempDir();
  const single = await openSafetensors(
    goldenPath(TINY_PIXART, "diffusion_pytorch_model.safetensors"),
  );
  const names = single.names();
  const weightMap: Record<string, string> = {};
  for (const [shard, part] of [names.slice(0, 20), names.slice(20)].entries()) {
    const file = `diffusion_pytorch_model-0000${shard + 1}-of-00002.safetensors`;
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const name of part) {
      tensors[name] = {
        dtype: "F32",
        shape: single.info(name).shape,
        data: await single.readFloat32(name),
      };
      weightMap[name] = file;
    }
    await writeSafetensors(join(dir, file), tensors);
  }
  single.close();
  await Deno.writeTextFile(
    join(dir, "diffusion_pytorch_model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  await Deno.copyFile(goldenPath(TINY_PIXART, "config.json"), join(dir, "config.json"));
  const sharded = await PixArtModel.load(await testGpu(), localFolder(dir));
  const reference = await loadTinyPixArt();
  assertRelativeError(
    await forwardValues(sharded),
    await forwardValues(reference),
    0,
    "sharded vs single",
  );
  sharded.release();
  reference.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("PixArt: the MLP split into row chunks under a small binding limit gives the same output", async () => {
  // Hidden states [2, 48, 36] are 13.8 kB, q/k/v 41 kB and the MLP's hidden layer 55 kB: a 48 kB
  // limit leaves everything whole except the MLP, which must then run in row chunks.
  const capped = await Gpu.create({ maxStorageBindingBytes: 48_000 });
  const small = await loadTinyPixArt(TINY_PIXART, capped);
  const reference = await loadTinyPixArt();
  assertRelativeError(
    await forwardValues(small),
    await forwardValues(reference),
    1e-6,
    "chunked MLP",
  );
  small.release();
  reference.release();
});
