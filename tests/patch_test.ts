import { patchEmbed, unpatchify } from "../src/ops/patch.ts";
import { ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";
import { patchEmbed3dCpu, unpatchify3dCpu } from "./patch_reference.ts";

/** DiT's Conv2d patch embedding: the 3D one over a single frame with a temporal patch of 1. */
function patchEmbedCpu(
  x: Float32Array,
  [batch, inChannels, height, width]: number[],
  weight: Float32Array,
  bias: Float32Array,
  patch: number,
): Float64Array {
  return patchEmbed3dCpu(x, [batch, inChannels, 1, height, width], weight, bias, [1, patch, patch]);
}

/** diffusers' unpatchify ("nhwpqc->nchpwq"): Open-Sora's rearrange with one frame, no crop. */
function unpatchifyCpu(
  x: Float32Array,
  batch: number,
  outChannels: number,
  patch: number,
  gridH: number,
  gridW: number,
): Float32Array {
  const size = [1, gridH * patch, gridW * patch];
  return unpatchify3dCpu(x, batch, outChannels, [1, patch, patch], size);
}

for (
  const [inChannels, outChannels, patch, height, width] of [[3, 53, 2, 10, 14], [4, 36, 3, 9, 6], [
    1,
    8,
    1,
    5,
    7,
  ]]
) {
  Deno.test(`patchEmbed matches the CPU: Cin ${inChannels} → C ${outChannels}, p ${patch}, ${height}×${width}`, async () => {
    const gpu = await testGpu();
    const batch = 3;
    const xShape = [batch, inChannels, height, width];
    const x = randomArray(batch * inChannels * height * width, 1);
    const weight = randomArray(outChannels * inChannels * patch * patch, 2, 0.2);
    const bias = randomArray(outChannels, 3);
    const tx = Tensor.fromArray(gpu, x, xShape);
    const tw = Tensor.fromArray(gpu, weight, [outChannels, inChannels, patch, patch]);
    const tb = Tensor.fromArray(gpu, bias, [outChannels]);
    const tokens = patchEmbed(tx, tw, tb, patch);
    const expectedShape = [batch, (height / patch) * (width / patch), outChannels];
    if (tokens.shape.join() !== expectedShape.join()) throw new Error(`shape [${tokens.shape}]`);
    const expected = patchEmbedCpu(x, xShape, weight, bias, patch);
    assertRelativeError(await tokens.toFloat32(), expected, 1e-6, "patchEmbed");
    for (const t of [tx, tw, tb, tokens]) t.release();
  });
}

for (const [outChannels, patch, gridH, gridW] of [[3, 2, 5, 7], [8, 2, 4, 4], [5, 3, 2, 3]]) {
  Deno.test(`unpatchify matches the diffusers layout: C ${outChannels}, p ${patch}, grid ${gridH}×${gridW}`, async () => {
    const gpu = await testGpu();
    const batch = 3;
    const x = randomArray(batch * gridH * gridW * patch * patch * outChannels, 4);
    const tx = Tensor.fromArray(gpu, x, [batch, gridH * gridW, patch * patch * outChannels]);
    const image = unpatchify(tx, outChannels, patch, gridH, gridW);
    const expectedShape = [batch, outChannels, gridH * patch, gridW * patch];
    if (image.shape.join() !== expectedShape.join()) throw new Error(`shape [${image.shape}]`);
    const expected = unpatchifyCpu(x, batch, outChannels, patch, gridH, gridW);
    assertRelativeError(await image.toFloat32(), expected, 0, "unpatchify");
    tx.release();
    image.release();
  });
}

Deno.test("patch launchers reject wrong shapes with a ShapeError", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(2 * 4 * 6 * 5), [2, 4, 6, 5]);
  const square = Tensor.fromArray(gpu, new Float32Array(2 * 4 * 6 * 6), [2, 4, 6, 6]);
  const weight = Tensor.fromArray(gpu, new Float32Array(8 * 4 * 2 * 2), [8, 4, 2, 2]);
  const bias = Tensor.fromArray(gpu, new Float32Array(8), [8]);
  const tokens = Tensor.fromArray(gpu, new Float32Array(2 * 6 * 16), [2, 6, 16]);
  assertThrows(() => patchEmbed(x, weight, bias, 2), ShapeError, "multiples of the patch size 2");
  assertThrows(
    () => patchEmbed(square, weight, bias, 3),
    ShapeError,
    "patchEmbed weight: expected shape [-1,4,3,3]",
  );
  assertThrows(
    () => unpatchify(tokens, 4, 2, 2, 2),
    ShapeError,
    "unpatchify: expected shape [-1,4,16], got [2,6,16]",
  );
  for (const t of [x, square, weight, bias, tokens]) t.release();
});
