/** The in-place q/k transforms (RoPE over interleaved pairs, per-head RMSNorm) against CPU. */

import { ShapeError } from "../src/errors.ts";
import { qkNormInPlace, ropeTables } from "../src/ops/qk_norm.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

interface Case {
  rows: number;
  heads: number;
  headDim: number;
  /** Sequence length of the rotary positions (row r at r % positions); 0 = no RoPE. */
  positions: number;
  norm: boolean;
}

/**
 * Written from rotary_embedding_torch (x·cos + rotate_half(x)·sin with rotate_half pairing
 * (2k, 2k+1) → (−x_{2k+1}, x_{2k})) followed by LlamaRMSNorm, in float64.
 */
function referenceCpu(
  qkv: Float32Array,
  c: Case,
  frequencies: Float32Array,
  qWeight: Float32Array,
  kWeight: Float32Array,
): Float64Array {
  const width = c.heads * c.headDim;
  const out = Float64Array.from(qkv);
  for (let r = 0; r < c.rows; r++) {
    for (let part = 0; part < 2; part++) {
      for (let h = 0; h < c.heads; h++) {
        const base = r * 3 * width + part * width + h * c.headDim;
        const v = Array.from(out.subarray(base, base + c.headDim));
        if (c.positions > 0) {
          const p = r % c.positions;
          for (let k = 0; k < c.headDim / 2; k++) {
            const angle = p * frequencies[k];
            const [a, b] = [v[2 * k], v[2 * k + 1]];
            v[2 * k] = a * Math.cos(angle) - b * Math.sin(angle);
            v[2 * k + 1] = b * Math.cos(angle) + a * Math.sin(angle);
          }
        }
        if (c.norm) {
          const meanSquare = v.reduce((s, x) => s + x * x, 0) / c.headDim;
          const inverse = 1 / Math.sqrt(meanSquare + 1e-6);
          const weight = part === 0 ? qWeight : kWeight;
          for (let d = 0; d < c.headDim; d++) v[d] *= inverse * weight[d];
        }
        out.set(v, base);
      }
    }
  }
  return out;
}

const CASES: Case[] = [
  { rows: 6 * 16, heads: 4, headDim: 24, positions: 16, norm: true },
  { rows: 2 * 3 * 5, heads: 3, headDim: 72, positions: 5, norm: true },
  { rows: 37, heads: 2, headDim: 6, positions: 0, norm: true }, // scalar lanes
  { rows: 4 * 7, heads: 2, headDim: 10, positions: 7, norm: false }, // RoPE alone, scalar
  { rows: 9, heads: 5, headDim: 8, positions: 0, norm: true },
];

for (const c of CASES) {
  const what = `rows ${c.rows}, ${c.heads}×${c.headDim}, ` +
    `${c.positions ? `RoPE over ${c.positions}` : "no RoPE"}, ${c.norm ? "RMSNorm" : "no norm"}`;
  Deno.test(`qkNormInPlace matches the CPU reference: ${what}`, async () => {
    const gpu = await testGpu();
    const width = c.heads * c.headDim;
    // Rows with a large common offset check the norm does not lose digits.
    const values = randomArray(c.rows * 3 * width, c.rows + c.headDim, 2);
    const frequencies = Float32Array.from(
      { length: c.headDim / 2 },
      (_, k) => 1 / 10000 ** ((2 * k) / c.headDim),
    );
    const qWeight = randomArray(c.headDim, 5, 1);
    const kWeight = randomArray(c.headDim, 6, 1);
    const expected = referenceCpu(values, c, frequencies, qWeight, kWeight);
    const qkv = Tensor.fromArray(gpu, values, [c.rows, 3 * width]);
    const q = Tensor.fromArray(gpu, qWeight, [c.headDim]);
    const k = Tensor.fromArray(gpu, kWeight, [c.headDim]);
    const rope = c.positions ? ropeTables(gpu, frequencies, c.positions) : undefined;
    const result = qkNormInPlace(qkv, c.heads, {
      ...(c.norm ? { qWeight: q, kWeight: k } : {}),
      rope,
    });
    if (result !== qkv) throw new Error("qkNormInPlace must return its input");
    const actual = await qkv.toFloat32();
    assertRelativeError(actual, expected, 2e-6, what);
    // v is untouched, bit for bit.
    for (let r = 0; r < c.rows; r++) {
      for (let i = 2 * width; i < 3 * width; i++) {
        const at = r * 3 * width + i;
        if (actual[at] !== values[at]) throw new Error(`v changed at row ${r} column ${i}`);
      }
    }
    rope?.release();
    for (const t of [qkv, q, k]) t.release();
  });
}

Deno.test("qkNormInPlace rejects mismatched weights and partial sequences", async () => {
  const gpu = await testGpu();
  const qkv = Tensor.fromArray(gpu, new Float32Array(10 * 3 * 16), [10, 48]);
  const w8 = Tensor.fromArray(gpu, new Float32Array(8), [8]);
  const w4 = Tensor.fromArray(gpu, new Float32Array(4), [4]);
  assertThrows(
    () => qkNormInPlace(qkv, 2, { qWeight: w4, kWeight: w4 }),
    ShapeError,
    "q weight",
  );
  assertThrows(() => qkNormInPlace(qkv, 2, { qWeight: w8 }), ShapeError, "both");
  assertThrows(() => qkNormInPlace(qkv, 5, {}), ShapeError, "5 heads");
  const rope = ropeTables(gpu, new Float32Array(4), 3);
  assertThrows(() => qkNormInPlace(qkv, 2, { rope }), ShapeError, "whole sequences of 3");
  rope.release();
  for (const t of [qkv, w8, w4]) t.release();
});
