/** Self-attention with an additive [H, N, N] score bias and key masks (T5) against float64. */

import { OptionError, ShapeError } from "../src/errors.ts";
import { biasedAttention, T5_MASKED_KEY_BIAS } from "../src/ops/attention.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { referencePackedAttention } from "./attention_reference.ts";
import { assertRelativeError, randomArray, relativeError, testGpu } from "./helpers.ts";
import { ATTENTION_KERNELS, withKernel } from "./kernel_helpers.ts";

/**
 * softmax(scale·q·kᵀ + bias[h] + (1 − mask)·maskedKeyBias)·v in float64 over packed qkv
 * [B, N, 3·H·D], max subtracted → [B, N, H·D].
 */
export function referenceBiasedAttention(
  qkv: Float32Array,
  bias: Float32Array,
  mask: Float32Array | null,
  batch: number,
  tokens: number,
  heads: number,
  headDim: number,
  scale = 1,
  maskedKeyBias = T5_MASKED_KEY_BIAS,
): Float32Array {
  return referencePackedAttention(qkv, batch, tokens, heads, headDim, (dot, b, h, i, j) => {
    const keyBias = mask ? (1 - mask[b * tokens + j]) * maskedKeyBias : 0;
    return scale * dot + bias[(h * tokens + i) * tokens + j] + keyBias;
  });
}

interface Case {
  batch: number;
  tokens: number;
  heads: number;
  headDim: number;
  /** Kept keys per batch element (the rest masked at the end, as padded prompts are). */
  kept?: number[];
  scale?: number;
  /** Spread of the random bias entries. */
  biasScale?: number;
}

const TOLERANCE = 1e-5;

async function check(c: Case, seed: number): Promise<number> {
  const gpu = await testGpu();
  const channels = c.heads * c.headDim;
  const qkv = randomArray(c.batch * c.tokens * 3 * channels, seed, 0.7);
  const bias = randomArray(c.heads * c.tokens * c.tokens, seed + 1, c.biasScale ?? 3);
  let mask: Float32Array | null = null;
  if (c.kept) {
    mask = new Float32Array(c.batch * c.tokens);
    c.kept.forEach((n, b) => mask!.fill(1, b * c.tokens, b * c.tokens + n));
  }
  const qkvT = Tensor.fromArray(gpu, qkv, [c.batch, c.tokens, 3 * channels]);
  const biasT = Tensor.fromArray(gpu, bias, [c.heads, c.tokens, c.tokens]);
  const maskT = mask ? Tensor.fromArray(gpu, mask, [c.batch, c.tokens]) : undefined;
  const expected = referenceBiasedAttention(
    qkv,
    bias,
    mask,
    c.batch,
    c.tokens,
    c.heads,
    c.headDim,
    c.scale ?? 1,
  );
  let worst = 0;
  for (const kernel of ATTENTION_KERNELS) {
    const out = await withKernel(
      gpu,
      "attention",
      kernel,
      () => biasedAttention(qkvT, c.heads, biasT, maskT, { scale: c.scale }),
    );
    const actual = await out.toFloat32();
    const what = `biased attention (${kernel}) ${JSON.stringify(c)}`;
    assertRelativeError(actual, expected, TOLERANCE, what);
    worst = Math.max(worst, relativeError(actual, expected));
    out.release();
  }
  for (const t of [qkvT, biasT, maskT]) t?.release();
  return worst;
}

Deno.test("biased attention matches float64 at awkward sizes (no mask, unscaled)", async () => {
  // N not a multiple of any query block or key tile; D = 64 (T5-XXL), 12 (vec4), 7 (scalar).
  await check({ batch: 2, tokens: 37, heads: 3, headDim: 12 }, 1);
  await check({ batch: 1, tokens: 130, heads: 2, headDim: 64 }, 2);
  await check({ batch: 3, tokens: 5, heads: 1, headDim: 7 }, 3);
  await check({ batch: 2, tokens: 1, heads: 2, headDim: 16 }, 4);
});

Deno.test("biased attention key masks: padded keys, one kept key, an all-masked row", async () => {
  await check({ batch: 2, tokens: 37, heads: 3, headDim: 12, kept: [37, 20] }, 5);
  await check({ batch: 2, tokens: 130, heads: 2, headDim: 16, kept: [130, 57] }, 6);
  await check({ batch: 3, tokens: 9, heads: 2, headDim: 6, kept: [1, 9, 4] }, 7);
  // All keys masked: −1e30 swamps every score alike, so the sample attends uniformly (as
  // transformers does with finfo.min), with no inf or NaN.
  await check({ batch: 2, tokens: 13, heads: 2, headDim: 8, kept: [0, 6] }, 8);
});

Deno.test("biased attention with a scale and a bias spread of ±300", async () => {
  await check({ batch: 2, tokens: 29, heads: 2, headDim: 20, scale: 0.25, kept: [29, 11] }, 9);
  // Bias entries hundreds apart: exp of the unsubtracted scores would overflow f32.
  await check({ batch: 1, tokens: 40, heads: 2, headDim: 8, biasScale: 300, kept: [33] }, 10);
});

Deno.test("biasedAttention rejects mismatched bias, mask and options", async () => {
  const gpu = await testGpu();
  const qkv = Tensor.empty(gpu, [2, 10, 3 * 4 * 8]);
  const bias = Tensor.empty(gpu, [4, 10, 10]);
  assertThrows(
    () => biasedAttention(qkv, 4, Tensor.empty(gpu, [4, 10, 9])),
    ShapeError,
    "bias must be f32 [4, 10, 10]",
  );
  assertThrows(
    () => biasedAttention(qkv, 4, bias, Tensor.empty(gpu, [2, 9])),
    ShapeError,
    "key mask must be f32 [2, 10]",
  );
  assertThrows(() => biasedAttention(qkv, 5, bias), ShapeError, "not divisible by 3·heads");
  assertThrows(
    () => biasedAttention(qkv, 4, bias, undefined, { scale: NaN }),
    OptionError,
    "must be finite",
  );
  qkv.release();
  bias.release();
});
