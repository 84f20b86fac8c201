/** The fused gated GELU gelu_tanh(gate) · up (T5 v1.1 feed-forward) against float64. */

import { ShapeError } from "../src/errors.ts";
import { geluTanhMul } from "../src/ops/elementwise.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

/** transformers' NewGELUActivation (gelu_new) in float64. */
export function geluNewCpu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

// 37·53 takes the scalar path, 37·160 (T5 golden d_ff) the vec4 path; ±40 and 0 reach the
// saturated ends where a naive tanh can give NaN.
for (const [rows, cols] of [[37, 53], [37, 160], [1, 3]]) {
  Deno.test(`geluTanhMul matches gelu_new(gate)·up over [${rows}, ${cols}]`, async () => {
    const gpu = await testGpu();
    const size = rows * cols;
    const gate = randomArray(size, cols, 3);
    const up = randomArray(size, cols + 1, 2);
    gate[0] = 40;
    if (size > 2) {
      gate[1] = -40;
      gate[2] = 0;
    }
    const tg = Tensor.fromArray(gpu, gate, [rows, cols]);
    const tu = Tensor.fromArray(gpu, up, [rows, cols]);
    const out = geluTanhMul(tg, tu);
    const expected = Float64Array.from(gate, (g, i) => geluNewCpu(g) * up[i]);
    const actual = await out.toFloat32();
    if (actual.some((v) => !Number.isFinite(v))) throw new Error("non-finite output");
    assertRelativeError(actual, expected, 1e-6, "geluTanhMul");
    for (const t of [tg, tu, out]) t.release();
  });
}

Deno.test("geluTanhMul rejects operands of different shapes", async () => {
  const gpu = await testGpu();
  const a = Tensor.empty(gpu, [4, 8]);
  const b = Tensor.empty(gpu, [4, 4]);
  assertThrows(() => geluTanhMul(a, b), ShapeError, "geluTanhMul up: expected shape [4,8]");
  a.release();
  b.release();
});
