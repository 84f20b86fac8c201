/**
 * Random inputs for the kernel benchmarks: the values only need to be finite and reproducible,
 * since the benchmarks time the kernels and check nothing.
 */

import type { Gpu } from "../src/gpu/context.ts";
import { shapeSize, Tensor } from "../src/tensor.ts";
import { randomArray } from "../tests/helpers.ts";

/** A tensor of `shape` holding seeded N(0, scale²) values (tests/helpers.ts randomArray). */
export function randomTensor(gpu: Gpu, shape: readonly number[], seed: number, scale = 1): Tensor {
  return Tensor.fromArray(gpu, randomArray(shapeSize(shape), seed, scale), shape);
}

/** `n` values drawn uniformly from [−scale, scale) with Math.random (a new draw each run). */
export function uniformArray(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.random() * 2 - 1) * scale;
  return out;
}
