/**
 * Random inputs for the kernel benchmarks: the values only need to be finite and of the right
 * scale, since the benchmarks time the kernels and check nothing.
 */

import type { Gpu } from "../src/gpu/context.ts";
import { type DType, shapeSize, Tensor } from "../src/tensor.ts";
import { randomArray } from "../tests/helpers.ts";

/** A tensor of `shape` holding seeded N(0, scale²) values (tests/helpers.ts randomArray). */
export function randomTensor(gpu: Gpu, shape: readonly number[], seed: number, scale = 1): Tensor {
  return Tensor.fromArray(gpu, randomArray(shapeSize(shape), seed, scale), shape);
}

/** The attention benches' head shape: DiT-XL/2's 16 heads × 72 (1152 channels). */
export const XL_HEADS = 16;
export const XL_HEAD_DIM = 72;

/** A packed q/k/v [1, N, 3·1152] at DiT-XL/2's head shape, seeded with N. */
export function xlPackedQkv(gpu: Gpu, tokens: number): Tensor {
  return randomTensor(gpu, [1, tokens, 3 * XL_HEADS * XL_HEAD_DIM], tokens);
}

/** A tensor of `shape` holding values uniform in [−scale, scale) from Math.random (unseeded). */
export function uniformTensor(
  gpu: Gpu,
  shape: readonly number[],
  scale: number,
  dtype?: DType,
): Tensor {
  const values = new Float32Array(shapeSize(shape));
  for (let i = 0; i < values.length; i++) values[i] = (Math.random() * 2 - 1) * scale;
  return Tensor.fromArray(gpu, values, shape, dtype);
}
