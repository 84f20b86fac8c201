/** DiT weights drawn at random in memory, for benchmarks at real model shapes. */

import { type MemoryTensor, MemoryTensorSource } from "../src/io/memory_source.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";
import type { DiTConfig } from "../models/dit/config.ts";
import { expectedDiTShapes } from "../models/dit/weights.ts";
import { XL_2_BACKBONE } from "./random_source.ts";

/** DiT-XL/2 at 256 px: 28 layers, 16 heads × 72, latent 4×32×32, learned sigma. */
export const DIT_XL_2_256: Readonly<DiTConfig> = {
  ...XL_2_BACKBONE,
  sampleSize: 32,
  numClasses: 1000,
  normEps: 1e-5,
};

/**
 * Every tensor of `config` with N(0, std²) values (std 0.02 like common initialisations; the
 * values matter only for speed, not for the pictures).
 */
export function randomDiTSource(config: DiTConfig, seed = 0, std = 0.02): MemoryTensorSource {
  const tensors = new Map<string, MemoryTensor>();
  let stream = 0;
  for (const [name, shape] of expectedDiTShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = gaussianNoise(seed, 0, size, stream++);
    for (let i = 0; i < size; i++) data[i] *= std;
    tensors.set(name, { shape, data });
  }
  return new MemoryTensorSource(`random DiT (seed ${seed})`, tensors);
}
