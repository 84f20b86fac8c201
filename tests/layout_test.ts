/** Axis swap, column concatenation and repetition against plain index loops. */

import { ShapeError } from "../src/errors.ts";
import { concatColumns, repeatColumns, swapMiddleAxes } from "../src/ops/layout.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

// [A, X, Y, C] → [A, Y, X, C] ("B (T S) C -> (B S) T C" in Open-Sora's rearrange terms).
function swapCpu(x: Float32Array, [a, first, second, c]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < a; i++) {
    for (let f = 0; f < first; f++) {
      for (let s = 0; s < second; s++) {
        for (let k = 0; k < c; k++) {
          out[((i * second + s) * first + f) * c + k] = x[((i * first + f) * second + s) * c + k];
        }
      }
    }
  }
  return out;
}

for (const shape of [[2, 4, 15, 96], [1, 3, 5, 7], [3, 16, 27, 12], [1, 1, 9, 4]]) {
  Deno.test(`swapMiddleAxes [${shape}]`, async () => {
    const gpu = await testGpu();
    const values = randomArray(shape.reduce((p, d) => p * d, 1), shape[2]);
    const x = Tensor.fromArray(gpu, values, shape);
    const swapped = swapMiddleAxes(x);
    const back = swapMiddleAxes(swapped);
    if (swapped.shape.join() !== [shape[0], shape[2], shape[1], shape[3]].join()) {
      throw new Error(`wrong shape [${swapped.shape}]`);
    }
    assertRelativeError(await swapped.toFloat32(), swapCpu(values, shape), 0, "swap");
    assertRelativeError(await back.toFloat32(), values, 0, "swap twice");
    for (const t of [x, swapped, back]) t.release();
  });
}

Deno.test("concatColumns and repeatColumns", async () => {
  const gpu = await testGpu();
  const a = randomArray(3 * 5, 1), b = randomArray(3 * 2, 2);
  const ta = Tensor.fromArray(gpu, a, [3, 5]), tb = Tensor.fromArray(gpu, b, [3, 2]);
  const joined = concatColumns([ta, tb, ta]);
  const expected: number[] = [];
  for (let r = 0; r < 3; r++) {
    expected.push(...a.subarray(r * 5, r * 5 + 5), ...b.subarray(r * 2, r * 2 + 2));
    expected.push(...a.subarray(r * 5, r * 5 + 5));
  }
  assertRelativeError(await joined.toFloat32(), expected, 0, "concat");
  const repeated = repeatColumns(tb, 3);
  const rows: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let k = 0; k < 3; k++) rows.push(...b.subarray(r * 2, r * 2 + 2));
  }
  assertRelativeError(await repeated.toFloat32(), rows, 0, "repeat");
  const odd = Tensor.fromArray(gpu, new Float32Array(4), [2, 2]);
  assertThrows(() => concatColumns([ta, odd]), ShapeError, "every part must be [3, C]");
  assertThrows(() => swapMiddleAxes(ta), ShapeError, "[A, X, Y, C]");
  for (const t of [ta, tb, joined, repeated, odd]) t.release();
});
