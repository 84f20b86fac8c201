/**
 * The sub-layers the DiT-family blocks (DiT, PixArt, STDiT2) are built from. Modulation rows
 * [B, 6C] hold shift₁ scale₁ gate₁ (self-attention) and shift₂ scale₂ gate₂ (feed-forward).
 */

import type { AttentionRuntime } from "../compression/attention_runtime.ts";
import type { Gpu } from "../gpu/context.ts";
import { crossAttention } from "../ops/attention.ts";
import { add, gatedResidualAdd } from "../ops/elementwise.ts";
import { timestepEmbeddingCpu } from "../ops/embedding.ts";
import { layerNormModulate } from "../ops/norm.ts";
import { Tensor } from "../tensor.ts";
import { feedForward } from "./feed_forward.ts";
import {
  applyLinear,
  type LinearWeights,
  selfAttention,
  type SelfAttentionWeights,
} from "./layers.ts";

/** h + gate₁ · attn(LN(h)(1 + scale₁) + shift₁): the block's (compressible) self-attention. */
export function modulatedSelfAttention(
  h: Tensor,
  normEps: number,
  modulation: Tensor,
  weights: SelfAttentionWeights,
  heads: number,
  layer: number,
  attention?: AttentionRuntime,
): Tensor {
  const attnIn = layerNormModulate(h, normEps, modulation, 0, 1);
  const attnOut = selfAttention(attnIn, weights, heads, layer, attention);
  attnIn.release();
  const out = gatedResidualAdd(h, attnOut, modulation, 2);
  attnOut.release();
  return out;
}

/** h + gate₂ · MLP(LN(h)(1 + scale₂) + shift₂). */
export function modulatedFeedForward(
  h: Tensor,
  normEps: number,
  modulation: Tensor,
  fc1: LinearWeights,
  fc2: LinearWeights,
): Tensor {
  const mlpIn = layerNormModulate(h, normEps, modulation, 3, 4);
  const mlpOut = feedForward(mlpIn, fc1, fc2);
  mlpIn.release();
  const out = gatedResidualAdd(h, mlpOut, modulation, 5);
  mlpOut.release();
  return out;
}

/** The projections of a cross-attention to the caption: q from the tokens, packed k/v from it. */
export interface CrossAttentionWeights {
  query: LinearWeights;
  keyValue: LinearWeights;
  out: LinearWeights;
}

/**
 * h + out(attention of h's tokens [B, N, C] over the caption [B, L, C], masked by [B, L]):
 * no norm and no gate (PixArt's and STDiT2's cross-attention read the residual stream as is).
 */
export function captionCrossAttention(
  h: Tensor,
  caption: Tensor,
  mask: Tensor,
  weights: CrossAttentionWeights,
  heads: number,
): Tensor {
  const query = applyLinear(h, weights.query);
  const keyValue = applyLinear(caption, weights.keyValue);
  const attended = crossAttention(query, keyValue, heads, mask);
  query.release();
  keyValue.release();
  const projected = applyLinear(attended, weights.out);
  attended.release();
  const out = add(h, projected);
  projected.release();
  return out;
}

/**
 * linear₂(SiLU(linear₁(sincos(values)))) for one scalar per row (a timestep, a size, a frame
 * rate): [values.length, C]. The sinusoids are [cos, sin] with no frequency shift.
 */
export function scalarEmbedding(
  gpu: Gpu,
  values: readonly number[],
  sinusoidChannels: number,
  weights: { linear1: LinearWeights; linear2: LinearWeights },
): Tensor {
  const sinusoids = Tensor.fromArray(
    gpu,
    timestepEmbeddingCpu([...values], sinusoidChannels, {
      flipSinToCos: true,
      downscaleFreqShift: 0,
    }),
    [values.length, sinusoidChannels],
    "f32",
    "sinusoids",
  );
  const hidden = applyLinear(sinusoids, weights.linear1, "silu");
  sinusoids.release();
  const out = applyLinear(hidden, weights.linear2);
  hidden.release();
  return out;
}

/**
 * A block's residual sub-layers applied in turn from h, each to the previous one's output;
 * every intermediate is released once the next is made (h stays the caller's).
 */
export function applyInTurn(h: Tensor, layers: readonly ((x: Tensor) => Tensor)[]): Tensor {
  let x = h;
  for (const layer of layers) {
    const next = layer(x);
    if (x !== h) x.release();
    x = next;
  }
  return x;
}
