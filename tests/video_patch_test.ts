/** Conv3d patch embedding with end padding, and unpatchify with cropping, against CPU loops. */

import { ShapeError } from "../src/errors.ts";
import { patchEmbed3d, unpatchify3d } from "../src/ops/video_patch.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";
import { type Patch, patchEmbed3dCpu, unpatchify3dCpu } from "./patch_reference.ts";

const CASES: { shape: number[]; cout: number; patch: Patch }[] = [
  { shape: [2, 4, 4, 6, 9], cout: 96, patch: [1, 2, 2] }, // the golden's odd width
  { shape: [1, 4, 3, 7, 5], cout: 12, patch: [1, 2, 2] }, // odd height and width
  { shape: [1, 3, 5, 4, 4], cout: 6, patch: [2, 2, 2] }, // padded frames
  { shape: [2, 2, 2, 3, 3], cout: 5, patch: [1, 3, 1] }, // scalar lanes
];

for (const { shape, cout, patch } of CASES) {
  Deno.test(`patchEmbed3d and unpatchify3d: x [${shape}], patch [${patch}] → ${cout}`, async () => {
    const gpu = await testGpu();
    const [batch, cin, frames, height, width] = shape;
    const xValues = randomArray(shape.reduce((a, d) => a * d, 1), 1);
    const wValues = randomArray(cout * cin * patch[0] * patch[1] * patch[2], 2, 0.3);
    const bValues = randomArray(cout, 3);
    const x = Tensor.fromArray(gpu, xValues, shape);
    const weight = Tensor.fromArray(gpu, wValues, [cout, cin, ...patch]);
    const bias = Tensor.fromArray(gpu, bValues, [cout]);
    const tokens = patchEmbed3d(x, weight, bias, patch);
    const expected = patchEmbed3dCpu(xValues, shape, wValues, bValues, patch);
    assertRelativeError(await tokens.toFloat32(), expected, 1e-6, "patchEmbed3d");

    // Unpatchify: tokens of pt·ph·pw·channels values, cropped to the video size.
    const channels = 3;
    const tokenCount = tokens.shape[1];
    const packed = randomArray(batch * tokenCount * patch[0] * patch[1] * patch[2] * channels, 4);
    const packedTensor = Tensor.fromArray(gpu, packed, [
      batch,
      tokenCount,
      patch[0] * patch[1] * patch[2] * channels,
    ]);
    const video = unpatchify3d(packedTensor, channels, patch, frames, height, width);
    const reference = unpatchify3dCpu(packed, batch, channels, patch, [frames, height, width]);
    assertRelativeError(await video.toFloat32(), reference, 0, "unpatchify3d");
    for (const t of [x, weight, bias, tokens, packedTensor, video]) t.release();
  });
}

Deno.test("video patch ops reject mismatched shapes", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(2 * 3 * 4 * 4), [1, 2, 3, 4, 4]);
  const weight = Tensor.fromArray(gpu, new Float32Array(8 * 3 * 4), [8, 3, 1, 2, 2]);
  const bias = Tensor.fromArray(gpu, new Float32Array(8), [8]);
  assertThrows(() => patchEmbed3d(x, weight, bias, [1, 2, 2]), ShapeError, "weight");
  const tokens = Tensor.fromArray(gpu, new Float32Array(12 * 16), [1, 12, 16]);
  assertThrows(() => unpatchify3d(tokens, 4, [1, 2, 2], 3, 4, 5), ShapeError, "unpatchify3d");
  for (const t of [x, weight, bias, tokens]) t.release();
});
