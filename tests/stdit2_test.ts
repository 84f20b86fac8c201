/** STDiT2 (Open-Sora v1.1): the forward pass against the float64 golden, and bad inputs. */

import { STDiT2Model } from "../models/stdit2/model.ts";
import { VideoConditioning, type VideoInfo } from "../models/stdit2/conditioning.ts";
import type { SafetensorsFile } from "../src/io/safetensors.ts";
import { Tensor } from "../src/tensor.ts";
import { goldenPath, withGolden } from "./golden_files.ts";
import { assertRelativeError, relativeError, testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

const TINY = "stdit-tiny-random";

async function loadTinySTDiT2(): Promise<STDiT2Model> {
  return STDiT2Model.load(await testGpu(), localFolder(goldenPath(TINY)));
}

/** The golden's inputs as a model batch. */
async function goldenInputs(model: STDiT2Model, file: SafetensorsFile) {
  const [batch, , tokens, channels] = file.info("y").shape;
  const numbers = async (name: string) => Array.from(await file.readFloat32(name));
  const [height, width, ar, frames, fps] = await Promise.all(
    ["height", "width", "ar", "num_frames", "fps"].map(numbers),
  );
  const info: VideoInfo[] = height.map((_, b) => ({
    height: height[b],
    width: width[b],
    aspectRatio: ar[b],
    frames: frames[b],
    fps: fps[b],
  }));
  const conditioning = VideoConditioning.create(
    model.gpu,
    await file.readFloat32("y"),
    await file.readInt("mask"),
    { batch, tokens, channels },
    info,
  );
  const x = Tensor.fromArray(model.gpu, await file.readFloat32("x"), file.info("x").shape);
  return { x, conditioning, timesteps: Array.from(await file.readInt("timestep")) };
}

Deno.test("STDiT2 forward matches the golden output (≤1e-4 rel)", async () => {
  const model = await loadTinySTDiT2();
  await withGolden(`${TINY}/forward.safetensors`, async (file) => {
    const { x, conditioning, timesteps } = await goldenInputs(model, file);
    const out = model.forward(x, timesteps, conditioning);
    const expected = await file.readFloat32("out");
    const actual = await out.toFloat32();
    console.log(`STDiT2 golden relative error ${relativeError(actual, expected).toExponential(3)}`);
    assertRelativeError(actual, expected, 1e-4, "STDiT2 forward");
    for (const t of [x, out]) t.release();
    conditioning.release();
  });
  model.release();
});
