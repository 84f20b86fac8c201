import { add, mul } from "../src/ops/elementwise.ts";
import { Tensor } from "../src/tensor.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

Deno.test("add and mul broadcast a trailing vector over awkward sizes", async () => {
  const gpu = await testGpu();
  const rows = 37, cols = 53;
  const a = randomArray(rows * cols, 1);
  const b = randomArray(cols, 2);
  const ta = Tensor.fromArray(gpu, a, [rows, cols]);
  const tb = Tensor.fromArray(gpu, b, [cols]);
  const sum = add(ta, tb);
  const prod = mul(ta, tb);
  const expectSum = a.map((x, i) => x + b[i % cols]);
  const expectProd = a.map((x, i) => Math.fround(x * b[i % cols]));
  assertRelativeError(await sum.toFloat32(), expectSum, 1e-7, "add");
  assertRelativeError(await prod.toFloat32(), expectProd, 1e-7, "mul");
  for (const t of [ta, tb, sum, prod]) t.release();
});
