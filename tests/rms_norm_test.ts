/** RMS norm (T5LayerNorm) against a float64 CPU reference. */

import { ShapeError } from "../src/errors.ts";
import { rmsNorm } from "../src/ops/norm.ts";
import { Tensor } from "../src/tensor.ts";
import type { RowVariant } from "../shaders/rows.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

/** x / √(mean(x²) + eps) · w per row, in float64. */
export function rmsNormCpu(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  eps: number,
): Float64Array {
  const channels = weight.length;
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    let squares = 0;
    for (let c = 0; c < channels; c++) squares += x[base + c] ** 2;
    const rstd = 1 / Math.sqrt(squares / channels + eps);
    for (let c = 0; c < channels; c++) out[base + c] = x[base + c] * rstd * weight[c];
  }
  return out;
}

const VARIANTS: RowVariant[] = ["invocation", "workgroup"];

// 53 and 7 take the scalar path, 48 (the T5 golden width) and 4096 (T5-XXL) the vec4 path;
// 37 rows fill no workgroup evenly. An offset of 3 makes the rows' mean nonzero, which an RMS
// norm must not subtract.
for (const variant of VARIANTS) {
  for (const channels of [53, 48, 4096, 7]) {
    Deno.test(`rmsNorm ${variant} matches the CPU over 37 rows of ${channels}`, async () => {
      const gpu = await testGpu();
      const rows = 37;
      const x = randomArray(rows * channels, channels).map((v) => 3 + 2 * v);
      const w = randomArray(channels, channels + 1).map((v) => 1 + 0.3 * v);
      const tx = Tensor.fromArray(gpu, x, [rows, channels]);
      const tw = Tensor.fromArray(gpu, w, [channels]);
      const y = rmsNorm(tx, tw, 1e-6, variant);
      assertRelativeError(await y.toFloat32(), rmsNormCpu(x, w, 1e-6), 1e-6, "rmsNorm");
      for (const t of [tx, tw, y]) t.release();
    });
  }
}

// eps matters when a row is tiny: an all-zero row gives 0, a row of 1e-4 is damped by eps = 1e-6.
for (const variant of VARIANTS) {
  Deno.test(`rmsNorm ${variant} honours eps on tiny and zero rows, keeps leading axes`, async () => {
    const gpu = await testGpu();
    const [batch, tokens, channels] = [2, 3, 12];
    const x = randomArray(batch * tokens * channels, 3).map((v, i) =>
      i < channels ? 0 : i < 2 * channels ? 1e-4 * v : 50 * v
    );
    const w = randomArray(channels, 4);
    const tx = Tensor.fromArray(gpu, x, [batch, tokens, channels]);
    const tw = Tensor.fromArray(gpu, w, [channels]);
    const y = rmsNorm(tx, tw, 1e-6, variant);
    if (y.shape.join() !== "2,3,12") throw new Error(`shape [${y.shape}]`);
    const actual = await y.toFloat32();
    const expected = rmsNormCpu(x, w, 1e-6);
    assertRelativeError(actual, expected, 1e-6, "rmsNorm");
    assertRelativeError(
      actual.subarray(channels, 2 * channels),
      expected.subarray(channels, 2 * channels),
      1e-6,
      "rmsNorm tiny row",
    );
    for (const t of [tx, tw, y]) t.release();
  });
}

Deno.test("rmsNorm rejects a weight of the wrong width and a non-positive eps", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(12), [3, 4]);
  const w = Tensor.fromArray(gpu, new Float32Array(5), [5]);
  const w4 = Tensor.fromArray(gpu, new Float32Array(4), [4]);
  assertThrows(() => rmsNorm(x, w, 1e-6), ShapeError, "weight must be [4] for x [3,4]");
  assertThrows(() => rmsNorm(x, w4, 0), RangeError, "eps must be positive");
  for (const t of [x, w, w4]) t.release();
});
