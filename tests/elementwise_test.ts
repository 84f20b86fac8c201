import { add, gatedResidualAdd, geluTanh, mul, scale, silu } from "../src/ops/elementwise.ts";
import { ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

// 53 columns exercise the scalar path, 36 the vec4 path; 37 rows are no multiple of any
// workgroup or per-invocation chunk.
for (const cols of [53, 36]) {
  Deno.test(`add and mul broadcast a trailing vector over [37, ${cols}]`, async () => {
    const gpu = await testGpu();
    const rows = 37;
    const a = randomArray(rows * cols, 1);
    const b = randomArray(cols, 2);
    const same = randomArray(rows * cols, 3);
    const ta = Tensor.fromArray(gpu, a, [rows, cols]);
    const tb = Tensor.fromArray(gpu, b, [cols]);
    const tSame = Tensor.fromArray(gpu, same, [rows, cols]);
    const sum = add(ta, tb);
    const prod = mul(ta, tb);
    const sumSame = add(ta, tSame);
    assertRelativeError(await sum.toFloat32(), a.map((x, i) => x + b[i % cols]), 1e-7, "add");
    assertRelativeError(await prod.toFloat32(), a.map((x, i) => x * b[i % cols]), 1e-7, "mul");
    assertRelativeError(await sumSame.toFloat32(), a.map((x, i) => x + same[i]), 1e-7, "add");
    for (const t of [ta, tb, tSame, sum, prod, sumSame]) t.release();
  });
}

function geluTanhCpu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

// Inputs up to ±40 reach the saturated ends where a naive tanh or exp can give NaN.
for (const size of [37 * 53, 37 * 36]) {
  Deno.test(`geluTanh, silu and scale match the CPU over ${size} values`, async () => {
    const gpu = await testGpu();
    const x = randomArray(size, 5, 4);
    x[0] = 40;
    x[1] = -40;
    x[2] = 0;
    const tx = Tensor.fromArray(gpu, x, [size]);
    const gelu = geluTanh(tx);
    const swish = silu(tx);
    const scaled = scale(tx, 1 / 3);
    const geluOut = await gelu.toFloat32();
    assertRelativeError(geluOut, Array.from(x, geluTanhCpu), 1e-6, "geluTanh");
    assertRelativeError(
      await swish.toFloat32(),
      Array.from(x, (v) => v / (1 + Math.exp(-v))),
      1e-6,
      "silu",
    );
    assertRelativeError(await scaled.toFloat32(), Array.from(x, (v) => v / 3), 1e-7, "scale");
    if (geluOut[0] !== 40 || geluOut[1] !== 0) {
      throw new Error(`gelu saturation: ${geluOut[0]}, ${geluOut[1]}`);
    }
    for (const t of [tx, gelu, swish, scaled]) t.release();
  });
}

for (const channels of [53, 36]) {
  Deno.test(`gatedResidualAdd matches the CPU at [3, 37, ${channels}] with gate chunk 5`, async () => {
    const gpu = await testGpu();
    const [batch, tokens] = [3, 37];
    const size = batch * tokens * channels;
    const h = randomArray(size, 6);
    const y = randomArray(size, 7);
    const mod = randomArray(batch * 6 * channels, 8);
    const th = Tensor.fromArray(gpu, h, [batch, tokens, channels]);
    const ty = Tensor.fromArray(gpu, y, [batch, tokens, channels]);
    const tm = Tensor.fromArray(gpu, mod, [batch, 6 * channels]);
    const out = gatedResidualAdd(th, ty, tm, 5);
    const expected = h.map((v, i) => {
      const b = Math.floor(i / (tokens * channels));
      return v + mod[b * 6 * channels + 5 * channels + (i % channels)] * y[i];
    });
    assertRelativeError(await out.toFloat32(), expected, 1e-7, "gatedResidualAdd");
    for (const t of [th, ty, tm, out]) t.release();
  });
}

Deno.test("elementwise launchers reject wrong shapes with a ShapeError", async () => {
  const gpu = await testGpu();
  const a = Tensor.fromArray(gpu, new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const b = Tensor.fromArray(gpu, new Float32Array(5), [5]);
  const mod = Tensor.fromArray(gpu, new Float32Array(2 * 8), [2, 8]);
  const ints = Tensor.fromArray(gpu, new Int32Array(24), [2, 3, 4]);
  assertThrows(() => add(a, b), ShapeError, "add: [5] does not broadcast onto [2,3,4]");
  assertThrows(() => mul(a, b), ShapeError, "mul: [5] does not broadcast");
  assertThrows(
    () => gatedResidualAdd(a, b, mod, 1),
    ShapeError,
    "gatedResidualAdd y: expected shape [2,3,4], got [5]",
  );
  assertThrows(() => gatedResidualAdd(a, a, mod, 2), ShapeError, "chunk 2 outside the 2 chunks");
  assertThrows(() => silu(ints), ShapeError, "silu: f32 tensor expected");
  assertThrows(() => geluTanh(ints), ShapeError, "gelu_tanh: f32 tensor expected");
  assertThrows(() => scale(ints, 2), ShapeError, "scale: f32 tensor expected");
  for (const t of [a, b, mod, ints]) t.release();
});
