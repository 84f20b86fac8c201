import {
  embeddingLookup,
  posEmbed2d,
  posEmbed2dCpu,
  timestepEmbedding,
  timestepEmbeddingCpu,
} from "../src/ops/embedding.ts";
import { OptionError, ShapeError } from "../src/errors.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { readGolden } from "./golden_reader.ts";
import { assertRelativeError, goldenDir, randomArray, testGpu } from "./helpers.ts";

const DIT_TIMESTEPS = { flipSinToCos: true, downscaleFreqShift: 1, maxPeriod: 10000 };
const golden = await readGolden(`${goldenDir()}/embeddings.safetensors`);

function goldenData(name: string): Float32Array {
  const tensor = golden.get(name);
  if (!tensor) throw new Error(`embeddings.safetensors has no ${name}`);
  return tensor.data;
}

Deno.test("timestep embedding matches the golden file on CPU and GPU (≤ 1e-5)", async () => {
  const gpu = await testGpu();
  const timesteps = goldenData("timesteps");
  const expected = goldenData("timestep_embedding_256");
  assertRelativeError(timestepEmbeddingCpu(timesteps, 256, DIT_TIMESTEPS), expected, 1e-5, "cpu");
  const t = Tensor.fromArray(gpu, timesteps, [timesteps.length]);
  const emb = timestepEmbedding(t, 256, DIT_TIMESTEPS);
  assertRelativeError(await emb.toFloat32(), expected, 1e-5, "gpu");
  t.release();
  emb.release();
});

// Odd width, no flip, shift 0, another period, fractional and large timesteps.
Deno.test("timestep embedding GPU matches CPU for odd dim 53 and unflipped order", async () => {
  const gpu = await testGpu();
  const opts = { flipSinToCos: false, downscaleFreqShift: 0, maxPeriod: 2000 };
  const timesteps = Float32Array.from([0, 0.5, 3.25, 250, 999, 1000, 37]);
  const expected = timestepEmbeddingCpu(timesteps, 53, opts);
  for (let b = 0; b < timesteps.length; b++) {
    if (expected[b * 53 + 52] !== 0) throw new Error("odd dim must end in a zero column");
  }
  const t = Tensor.fromArray(gpu, timesteps, [timesteps.length]);
  const emb = timestepEmbedding(t, 53, opts);
  assertRelativeError(await emb.toFloat32(), expected, 1e-6, "gpu vs cpu");
  t.release();
  emb.release();
});

for (
  const [name, dim, gridH, gridW, base] of [
    ["pos_embed_d64_g8x8", 64, 8, 8, 8],
    ["pos_embed_d32_g6x10_base6", 32, 6, 10, 6],
  ] as const
) {
  Deno.test(`${name} matches the golden file on CPU and GPU (≤ 1e-5)`, async () => {
    const gpu = await testGpu();
    const expected = goldenData(name);
    assertRelativeError(posEmbed2dCpu(dim, gridH, gridW, base, 1), expected, 1e-5, "cpu");
    const table = posEmbed2d(gpu, dim, gridH, gridW, base, 1);
    if (table.shape.join() !== `${gridH * gridW},${dim}`) throw new Error(`shape [${table.shape}]`);
    assertRelativeError(await table.toFloat32(), expected, 1e-5, "gpu");
    table.release();
  });
}

// Non-native size (positions not integers) and a large grid (arguments up to ~60).
Deno.test("posEmbed2d GPU matches CPU at 7×13 with base 4 and interpolation 2, and 64×64", async () => {
  const gpu = await testGpu();
  for (
    const [dim, gridH, gridW, base, interpolation] of [[36, 7, 13, 4, 2], [1152, 64, 64, 64, 1]]
  ) {
    const table = posEmbed2d(gpu, dim, gridH, gridW, base, interpolation);
    const expected = posEmbed2dCpu(dim, gridH, gridW, base, interpolation);
    assertRelativeError(await table.toFloat32(), expected, 1e-6, `${gridH}×${gridW}`);
    table.release();
  }
});

Deno.test("embeddingLookup gathers rows and clamps out-of-range ids", async () => {
  const gpu = await testGpu();
  for (const channels of [53, 36]) {
    const vocabulary = 11;
    const table = randomArray(vocabulary * channels, channels);
    const ids = Int32Array.from([3, 0, 10, -5, 40, 7, 3]);
    const tTable = Tensor.fromArray(gpu, table, [vocabulary, channels]);
    const tIds = Tensor.fromArray(gpu, ids, [ids.length]);
    const out = embeddingLookup(tTable, tIds);
    const expected = new Float32Array(ids.length * channels);
    ids.forEach((id, b) => {
      const row = Math.min(Math.max(id, 0), vocabulary - 1);
      expected.set(table.subarray(row * channels, (row + 1) * channels), b * channels);
    });
    assertRelativeError(await out.toFloat32(), expected, 0, `lookup C=${channels}`);
    for (const t of [tTable, tIds, out]) t.release();
  }
});

Deno.test("embedding launchers reject wrong shapes and options", async () => {
  const gpu = await testGpu();
  const table = Tensor.fromArray(gpu, new Float32Array(12), [3, 4]);
  const floatIds = Tensor.fromArray(gpu, new Float32Array(2), [2]);
  const t2d = Tensor.fromArray(gpu, new Float32Array(4), [2, 2]);
  assertThrows(() => embeddingLookup(table, floatIds), ShapeError, "expected i32 ids of shape [B]");
  assertThrows(
    () => timestepEmbedding(t2d, 8, DIT_TIMESTEPS),
    ShapeError,
    "expected t of shape [B]",
  );
  assertThrows(() => posEmbed2d(gpu, 30, 2, 2, 2, 1), OptionError, "multiple of 4");
  assertThrows(() => timestepEmbeddingCpu([1], 2, DIT_TIMESTEPS), OptionError, "must be positive");
  for (const t of [table, floatIds, t2d]) t.release();
});
