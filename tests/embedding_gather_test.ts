/** Embedding gather from a table split in row chunks (tables larger than one storage binding). */

import { OptionError, ShapeError } from "../src/errors.ts";
import { embeddingGather, tableRowsPerChunk, uploadTableChunks } from "../src/ops/embedding.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { randomArray, testGpu } from "./helpers.ts";

/** Rows table[clamp(id, 0, V − 1)] on the CPU. */
function gatherCpu(table: Float32Array, channels: number, ids: Int32Array): Float32Array {
  const vocabulary = table.length / channels;
  const out = new Float32Array(ids.length * channels);
  ids.forEach((id, b) => {
    const row = Math.min(Math.max(id, 0), vocabulary - 1);
    out.set(table.subarray(row * channels, (row + 1) * channels), b * channels);
  });
  return out;
}

function assertEqualArrays(actual: Float32Array, expected: Float32Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}`);
  const bad = actual.findIndex((v, i) => !Object.is(v, expected[i]));
  if (bad >= 0) throw new Error(`${what}: element ${bad} is ${actual[bad]}, not ${expected[bad]}`);
}

// 37 rows in chunks of 5 (the last holds 2), forced small so one table takes 8 chunks; widths
// 48 (vec4), 53 and 7 (scalar; odd, so f16 rows start mid-word). Ids hit every chunk, both
// edges of each boundary, repeat, and lie outside [0, V) (clamped).
for (const dtype of ["f32", "f16"] as const) {
  for (const channels of [48, 53, 7]) {
    Deno.test(`embeddingGather over 8 ${dtype} chunks of a [37, ${channels}] table`, async () => {
      const gpu = await testGpu();
      const vocabulary = 37;
      const table = randomArray(vocabulary * channels, channels);
      const chunks = uploadTableChunks(gpu, table, [vocabulary, channels], dtype, "table", 5);
      if (chunks.length !== 8 || chunks[7].shape[0] !== 2) {
        throw new Error(`expected 8 chunks, the last of 2 rows: ${chunks.map((c) => c.shape)}`);
      }
      const idList = [0, 4, 5, 9, 10, 36, 35, 17, 17, -3, 1000, 30, 31, 2, 24, 25, 19, 20, 14, 15];
      const ids = Int32Array.from(idList);
      const tIds = Tensor.fromArray(gpu, ids, [ids.length]);
      const out = embeddingGather(chunks, tIds);
      const rounded = dtype === "f16" ? Float32Array.from(Float16Array.from(table)) : table;
      assertEqualArrays(await out.toFloat32(), gatherCpu(rounded, channels, ids), "gather");
      for (const t of [...chunks, tIds, out]) t.release();
    });
  }
}

Deno.test("uploadTableChunks keeps a table that fits in one chunk, gather equals lookup", async () => {
  const gpu = await testGpu();
  const table = randomArray(100 * 12, 3);
  const chunks = uploadTableChunks(gpu, table, [100, 12], "f32", "table");
  if (chunks.length !== 1) throw new Error(`${chunks.length} chunks`);
  const ids = Int32Array.from({ length: 70 }, (_, i) => (i * 37) % 100);
  const tIds = Tensor.fromArray(gpu, ids, [ids.length]);
  const out = embeddingGather(chunks, tIds);
  assertEqualArrays(await out.toFloat32(), gatherCpu(table, 12, ids), "single chunk");
  for (const t of [...chunks, tIds, out]) t.release();
});

Deno.test("tableRowsPerChunk: T5-XXL's 32128×4096 table in 128 MiB bindings", () => {
  const limit = 128 * 2 ** 20;
  // f16: 8 KiB rows, 16384 to a chunk → 2 chunks; f32: 8192 rows → 4 chunks.
  if (tableRowsPerChunk(4096, "f16", limit) !== 16384) throw new Error("f16 rows");
  if (tableRowsPerChunk(4096, "f32", limit) !== 8192) throw new Error("f32 rows");
  assertThrows(() => tableRowsPerChunk(100, "f32", 399), ShapeError, "over the storage-binding");
});

Deno.test("embeddingGather and uploadTableChunks reject bad chunks, ids and counts", async () => {
  const gpu = await testGpu();
  const a = Tensor.empty(gpu, [4, 8]);
  const b = Tensor.empty(gpu, [4, 6]);
  const half = Tensor.empty(gpu, [4, 8], "f16");
  const ids = Tensor.fromArray(gpu, Int32Array.from([1, 2]), [2]);
  const floatIds = Tensor.fromArray(gpu, Float32Array.from([1, 2]), [2]);
  assertThrows(() => embeddingGather([], ids), ShapeError, "no table chunks");
  assertThrows(() => embeddingGather([a, b], ids), ShapeError, "chunk 1 must be");
  assertThrows(() => embeddingGather([a, half], ids), ShapeError, "chunk 1 must be");
  assertThrows(() => embeddingGather([a], floatIds), ShapeError, "expected i32 ids");
  assertThrows(
    () => uploadTableChunks(gpu, new Float32Array(10), [3, 4], "f32", "t"),
    ShapeError,
    "10 values do not make a table [3, 4]",
  );
  assertThrows(
    () => uploadTableChunks(gpu, new Float32Array(12), [3, 4], "f32", "t", 0),
    OptionError,
    "rowsPerChunk must be a positive integer",
  );
  for (const t of [a, b, half, ids, floatIds]) t.release();
});
