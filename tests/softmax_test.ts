import { softmax } from "../src/ops/softmax.ts";
import { ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import type { RowVariant } from "../shaders/rows.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

function softmaxCpu(x: Float32Array, length: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += length) {
    let largest = -Infinity;
    for (let j = 0; j < length; j++) largest = Math.max(largest, x[base + j]);
    let sum = 0;
    for (let j = 0; j < length; j++) sum += Math.exp(x[base + j] - largest);
    for (let j = 0; j < length; j++) out[base + j] = Math.exp(x[base + j] - largest) / sum;
  }
  return out;
}

// Logits scaled by 30 make exp overflow without the max subtraction.
for (const variant of ["invocation", "workgroup"] as RowVariant[]) {
  for (const length of [53, 1, 256, 1030]) {
    Deno.test(`softmax ${variant} matches the CPU over [3, 37, ${length}]`, async () => {
      const gpu = await testGpu();
      const x = randomArray(3 * 37 * length, length, 30);
      const tx = Tensor.fromArray(gpu, x, [3, 37, length]);
      const y = softmax(tx, variant);
      assertRelativeError(await y.toFloat32(), softmaxCpu(x, length), 1e-5, "softmax");
      tx.release();
      y.release();
    });
  }
}

Deno.test("softmax rejects an empty last axis and non-f32 input with a ShapeError", async () => {
  const gpu = await testGpu();
  const empty = Tensor.fromArray(gpu, new Float32Array(0), [4, 0]);
  const ints = Tensor.fromArray(gpu, new Int32Array(4), [4]);
  assertThrows(() => softmax(empty), ShapeError, "expected shape [..., L] with L > 0, got [4,0]");
  assertThrows(() => softmax(ints), ShapeError, "f32");
  empty.release();
  ints.release();
});
