import { assertThrows } from "./asserts.ts";
import { layerNorm, layerNormModulate, modulate } from "../src/ops/norm.ts";
import { ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import type { RowVariant } from "../shaders/rows.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

function layerNormCpu(x: Float32Array, channels: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    let mean = 0;
    for (let c = 0; c < channels; c++) mean += x[base + c];
    mean /= channels;
    let variance = 0;
    for (let c = 0; c < channels; c++) variance += (x[base + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(variance / channels + eps);
    for (let c = 0; c < channels; c++) out[base + c] = (x[base + c] - mean) * rstd;
  }
  return out;
}

function modulateCpu(
  x: ArrayLike<number>,
  shape: number[],
  mod: Float32Array,
  shiftChunk: number,
  scaleChunk: number,
): Float64Array {
  const [batch, tokens, channels] = shape;
  const stride = mod.length / batch;
  const out = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let n = 0; n < tokens; n++) {
      for (let c = 0; c < channels; c++) {
        const i = (b * tokens + n) * channels + c;
        const shift = mod[b * stride + shiftChunk * channels + c];
        const scale = mod[b * stride + scaleChunk * channels + c];
        out[i] = x[i] * (1 + scale) + shift;
      }
    }
  }
  return out;
}

const VARIANTS: RowVariant[] = ["invocation", "workgroup"];

/** layerNorm (eps 1e-6) of x [rows, channels] on the GPU within 1e-6 of the CPU reference. */
async function assertLayerNormMatchesCpu(
  x: Float32Array,
  rows: number,
  channels: number,
  variant: RowVariant,
): Promise<void> {
  const gpu = await testGpu();
  const tx = Tensor.fromArray(gpu, x, [rows, channels]);
  const y = layerNorm(tx, 1e-6, variant);
  assertRelativeError(await y.toFloat32(), layerNormCpu(x, channels, 1e-6), 1e-6, "layerNorm");
  tx.release();
  y.release();
}

// Offsets of 3 keep means away from zero, so the two-pass statistics are exercised.
for (const variant of VARIANTS) {
  for (const channels of [53, 1152, 4, 7]) {
    Deno.test(`layerNorm ${variant} matches the CPU over 37 rows of ${channels}`, async () => {
      const rows = 37;
      const x = randomArray(rows * channels, channels).map((v) => 3 + 2 * v);
      await assertLayerNormMatchesCpu(x, rows, channels, variant);
    });
  }
}

// E[x²] − E[x]² in f32 would be off by ~5e-4 here; the shifted statistics reach ~1e-7.
for (const variant of VARIANTS) {
  Deno.test(`layerNorm ${variant} stays accurate when the mean dominates (mean 100, std 1)`, async () => {
    const [rows, channels] = [37, 1152];
    const x = randomArray(rows * channels, 9).map((v) => 100 + v);
    await assertLayerNormMatchesCpu(x, rows, channels, variant);
  });
}

for (const variant of VARIANTS) {
  for (const channels of [53, 36]) {
    Deno.test(`layerNormModulate ${variant} matches the CPU at [3, 37, ${channels}]`, async () => {
      const gpu = await testGpu();
      const shape = [3, 37, channels];
      const x = randomArray(3 * 37 * channels, 11).map((v) => v - 1);
      const mod = randomArray(3 * 6 * channels, 12, 0.5);
      const tx = Tensor.fromArray(gpu, x, shape);
      const tm = Tensor.fromArray(gpu, mod, [3, 6 * channels]);
      const y = layerNormModulate(tx, 1e-5, tm, 3, 4, variant);
      const expected = modulateCpu(layerNormCpu(x, channels, 1e-5), shape, mod, 3, 4);
      assertRelativeError(await y.toFloat32(), expected, 1e-6, "layerNormModulate");
      for (const t of [tx, tm, y]) t.release();
    });
  }
}

for (const channels of [53, 36]) {
  Deno.test(`modulate matches the CPU at [3, 37, ${channels}] with chunks (1, 0)`, async () => {
    const gpu = await testGpu();
    const shape = [3, 37, channels];
    const x = randomArray(3 * 37 * channels, 21);
    const mod = randomArray(3 * 2 * channels, 22);
    const tx = Tensor.fromArray(gpu, x, shape);
    const tm = Tensor.fromArray(gpu, mod, [3, 2 * channels]);
    const y = modulate(tx, tm, 1, 0);
    assertRelativeError(await y.toFloat32(), modulateCpu(x, shape, mod, 1, 0), 1e-6, "modulate");
    for (const t of [tx, tm, y]) t.release();
  });
}

Deno.test("norm launchers reject wrong shapes with a ShapeError", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const badMod = Tensor.fromArray(gpu, new Float32Array(2 * 10), [2, 10]);
  const mod = Tensor.fromArray(gpu, new Float32Array(2 * 8), [2, 8]);
  const flat = Tensor.fromArray(gpu, new Float32Array(0), [2, 0]);
  assertThrows(() => layerNorm(flat, 1e-6), ShapeError, "layerNorm");
  assertThrows(() => modulate(x, badMod, 0, 1), ShapeError, "expected mod of shape [2, K·4]");
  assertThrows(() => layerNormModulate(x, 1e-6, mod, 0, 2), ShapeError, "chunk 2");
  assertThrows(() => layerNormModulate(mod, 1e-6, mod, 0, 1), ShapeError, "[B, N, C]");
  for (const t of [x, badMod, mod, flat]) t.release();
});
