/** Cross-attention with key masks against the float64 CPU reference. */

import { ShapeError } from "../src/errors.ts";
import { crossAttention } from "../src/ops/attention.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { referenceCrossAttention } from "./attention_reference.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";
import { ATTENTION_KERNELS, withKernel } from "./kernel_helpers.ts";

const TOLERANCE = 1e-4;

interface Case {
  batch: number;
  queries: number;
  keys: number;
  heads: number;
  headDim: number;
  /** Kept keys per batch element (the rest masked at the end, as padded captions are). */
  kept?: number[];
}

async function check(c: Case, seed: number): Promise<void> {
  const gpu = await testGpu();
  const channels = c.heads * c.headDim;
  const q = randomArray(c.batch * c.queries * channels, seed, 2);
  const kv = randomArray(c.batch * c.keys * 2 * channels, seed + 1, 2);
  let mask: Float32Array | null = null;
  if (c.kept) {
    mask = new Float32Array(c.batch * c.keys);
    c.kept.forEach((n, b) => mask!.fill(1, b * c.keys, b * c.keys + n));
  }
  const qT = Tensor.fromArray(gpu, q, [c.batch, c.queries, channels]);
  const kvT = Tensor.fromArray(gpu, kv, [c.batch, c.keys, 2 * channels]);
  const maskT = mask ? Tensor.fromArray(gpu, mask, [c.batch, c.keys]) : undefined;
  const expected = referenceCrossAttention(
    q,
    kv,
    mask,
    c.batch,
    c.queries,
    c.keys,
    c.heads,
    c.headDim,
  );
  for (const kernel of ATTENTION_KERNELS) {
    const out = await withKernel(
      gpu,
      "attention",
      kernel,
      () => crossAttention(qT, kvT, c.heads, maskT),
    );
    const what = `cross-attention (${kernel}) ${JSON.stringify(c)}`;
    assertRelativeError(await out.toFloat32(), expected, TOLERANCE, what);
    out.release();
  }
  for (const t of [qT, kvT, maskT]) t?.release();
}

Deno.test("cross-attention matches the reference on awkward caption lengths", async () => {
  // L not a multiple of any key tile; head dims 72 (PixArt/STDiT), 18 and 7 (scalar loads).
  await check({ batch: 2, queries: 37, keys: 121, heads: 2, headDim: 72 }, 1);
  await check({ batch: 1, queries: 64, keys: 1, heads: 3, headDim: 18 }, 2);
  await check({ batch: 3, queries: 5, keys: 13, heads: 1, headDim: 7 }, 3);
});

Deno.test("cross-attention key masks: partial, single kept key, and all masked", async () => {
  await check({ batch: 2, queries: 50, keys: 120, heads: 2, headDim: 72, kept: [77, 3] }, 4);
  await check({ batch: 2, queries: 9, keys: 13, heads: 4, headDim: 16, kept: [1, 13] }, 5);
  // All keys masked: every score gets the same bias, so diffusers attends uniformly.
  await check({ batch: 2, queries: 9, keys: 13, heads: 2, headDim: 8, kept: [0, 6] }, 6);
});

Deno.test("cross-attention rejects mismatched shapes naming them", async () => {
  const gpu = await testGpu();
  const q = Tensor.empty(gpu, [2, 10, 64]);
  const kv = Tensor.empty(gpu, [2, 7, 128]);
  assertThrows(
    () => crossAttention(q, Tensor.empty(gpu, [2, 7, 64]), 4),
    ShapeError,
    "kv must be [2, L, 128]",
  );
  assertThrows(() => crossAttention(q, kv, 3), ShapeError, "not divisible by 3 heads");
  assertThrows(
    () => crossAttention(q, kv, 4, Tensor.empty(gpu, [2, 8])),
    ShapeError,
    "key mask must be f32 [2, 7]",
  );
  q.release();
  kv.release();
});
