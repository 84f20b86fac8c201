/**
 * T5's relative position bias: every (query i, key j) pair falls in a bucket of the distance
 * j − i, and each bucket has a learned bias per head (block 0's
 * `relative_attention_bias.weight` [buckets, H]). The encoder is bidirectional: half the
 * buckets for keys after the query, half for the rest; in each half the first quarter of the
 * buckets are exact distances and the others are log-spaced up to max_distance, beyond which
 * everything shares the last bucket.
 *
 * Buckets are computed on the CPU with transformers' float32 arithmetic
 * (`T5Attention._relative_position_bucket`), the bias gathered into [H, N, N] once per sequence
 * length and uploaded; every block adds the same tensor.
 */

import type { Gpu } from "../../src/gpu/context.ts";
import { OptionError } from "../../src/errors.ts";
import { Tensor } from "../../src/tensor.ts";

const f32 = Math.fround;

/**
 * The bidirectional bucket of the distance `relative` = key − query, as transformers computes
 * it: `max_exact + int(log(|d| / max_exact) / log(max_distance / max_exact) · (n − max_exact))`
 * in float32, truncated toward zero and capped at the half's last bucket (n = buckets / 2,
 * max_exact = n / 2, both floored).
 */
export function relativePositionBucket(
  relative: number,
  numBuckets: number,
  maxDistance: number,
): number {
  const half = Math.floor(numBuckets / 2);
  const base = relative > 0 ? half : 0;
  const distance = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (distance < maxExact) return base + distance;
  // Each step rounds to float32 as the torch ops do; the Python scalar log(max_distance /
  // max_exact) is a double that torch narrows to the tensor's float32.
  const logRatio = f32(Math.log(f32(distance / maxExact)));
  const scaled = f32(f32(logRatio / f32(Math.log(maxDistance / maxExact))) * (half - maxExact));
  const large = maxExact + Math.trunc(scaled);
  return base + Math.min(large, half - 1);
}

/** Bucket of every (query, key) pair: [queryLength, keyLength], row i holding bucket(j − i). */
export function relativePositionBuckets(
  queryLength: number,
  keyLength: number,
  numBuckets: number,
  maxDistance: number,
): Int32Array {
  // The bucket depends on j − i only: one per distance in (−queryLength, keyLength).
  const byDistance = Int32Array.from(
    { length: queryLength + keyLength - 1 },
    (_, k) => relativePositionBucket(k - (queryLength - 1), numBuckets, maxDistance),
  );
  const out = new Int32Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    const offset = queryLength - 1 - i;
    out.set(byDistance.subarray(offset, offset + keyLength), i * keyLength);
  }
  return out;
}

/**
 * bias[h, i, j] = table[bucket[i, j], h] for the bias table [buckets, H] (PyTorch's embedding
 * layout) and buckets [N, L] → [H, N, L].
 */
export function gatherPositionBias(
  table: Float32Array,
  numHeads: number,
  buckets: Int32Array,
  queryLength: number,
  keyLength: number,
): Float32Array {
  const pairs = queryLength * keyLength;
  if (buckets.length !== pairs) {
    throw new OptionError(
      `position bias: ${buckets.length} buckets do not cover [${queryLength}, ${keyLength}]`,
    );
  }
  const tableBuckets = table.length / numHeads;
  const out = new Float32Array(numHeads * pairs);
  for (let p = 0; p < pairs; p++) {
    const bucket = buckets[p];
    if (!(bucket >= 0 && bucket < tableBuckets)) {
      throw new OptionError(`position bias: bucket ${bucket} outside the table's ${tableBuckets}`);
    }
    for (let h = 0; h < numHeads; h++) out[h * pairs + p] = table[bucket * numHeads + h];
  }
  return out;
}

/** The position bias [H, N, N] of a length-N encoder sequence, on `gpu`. */
export function uploadPositionBias(
  gpu: Gpu,
  table: Float32Array,
  numHeads: number,
  numBuckets: number,
  maxDistance: number,
  length: number,
): Tensor {
  const buckets = relativePositionBuckets(length, length, numBuckets, maxDistance);
  const bias = gatherPositionBias(table, numHeads, buckets, length, length);
  return Tensor.fromArray(gpu, bias, [numHeads, length, length], "f32", "t5-position-bias");
}
