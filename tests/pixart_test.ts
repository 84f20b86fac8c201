/** The PixArt forward pass against the float64 goldens (non-square latent, text mask, size conditioning). */

import { CaptionConditioning } from "../models/caption_conditioning.ts";
import { PixArtModel } from "../models/pixart.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath, withGolden } from "./golden_files.ts";
import { relativeError, testGpu } from "./helpers.ts";

const TOLERANCE = 1e-4;

/** Runs every golden sample alone (our forward takes one timestep per pass) and returns the errors. */
async function goldenErrors(folder: string): Promise<number[]> {
  const model = await PixArtModel.load(await testGpu(), goldenPath(folder));
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
