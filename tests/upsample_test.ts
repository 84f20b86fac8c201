import { ShapeError } from "../src/errors.ts";
import { upsampleNearest2x } from "../src/ops/upsample.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { referenceUpsample2x } from "./conv_reference.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

Deno.test("upsampleNearest2x repeats each value in a 2×2 block (even and odd widths)", async () => {
  const gpu = await testGpu();
  for (const [i, shape] of [[1, 1, 2, 2], [2, 3, 5, 6], [1, 4, 3, 7], [2, 2, 1, 1]].entries()) {
    const [batch, channels, height, width] = shape;
    const data = randomArray(batch * channels * height * width, 700 + i);
    const x = Tensor.fromArray(gpu, data, shape);
    const y = upsampleNearest2x(x);
    if (y.shape.join() !== [batch, channels, 2 * height, 2 * width].join()) {
      throw new Error(`shape [${y.shape}]`);
    }
    // A copy: exact.
    const expected = referenceUpsample2x(data, batch * channels, height, width);
    assertRelativeError(await y.toFloat32(), expected, 0, `upsample [${shape}]`);
    x.release();
    y.release();
  }
});

Deno.test("upsampleNearest2x rejects non-4D input", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(6), [2, 3]);
  assertThrows(() => upsampleNearest2x(x), ShapeError, "[B, C, H, W]");
  x.release();
});
