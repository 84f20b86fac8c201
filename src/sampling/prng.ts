/**
 * Seeded Gaussian noise that is the same on every run and machine.
 *
 * Generator: xoshiro128** (Blackman & Vigna) with its 128-bit state filled by splitmix32 from
 * a key mixed from (seed, sample index, stream). Normals come from the Box–Muller transform in
 * float64 on two 32-bit uniforms u1 ∈ (0,1], u2 ∈ [0,1): z = √(−2 ln u1)·cos(2π u2), then
 * rounded to float32. Sample i of a batch always gets the same noise for the same seed,
 * whatever the batch size, so an image can be reproduced alone.
 */

import { OptionError } from "../errors.ts";

/** Seeds are 32-bit: 0 … 2³² − 1. Larger ones would wrap onto these (2³² giving seed 0's noise). */
export const MAX_SEED = 0xffffffff;

/** Refuses a seed that is not an integer in 0 … MAX_SEED (never wrapped silently). */
export function checkSeed(seed: number, what = "seed"): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new OptionError(`${what} must be an integer from 0 to ${MAX_SEED}, got ${seed}`);
  }
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** xoshiro128** producing uniform 32-bit integers. */
export class Xoshiro128 {
  #s: Uint32Array;

  constructor(key: number) {
    const seeder = { s: key | 0 };
    this.#s = Uint32Array.of(
      splitmix32(seeder),
      splitmix32(seeder),
      splitmix32(seeder),
      splitmix32(seeder),
    );
  }

  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
}

/** Mixes (seed, sample, stream) into one 32-bit key. */
function streamKey(seed: number, sampleIndex: number, stream: number): number {
  const st = { s: seed | 0 };
  let key = splitmix32(st);
  st.s = key ^ Math.imul(sampleIndex + 1, 0x27d4eb2d);
  key = splitmix32(st);
  st.s = key ^ Math.imul(stream + 1, 0x165667b1);
  return splitmix32(st);
}

/** `count` standard normal float32 values for one sample of one stream. */
export function gaussianNoise(
  seed: number,
  sampleIndex: number,
  count: number,
  stream = 0,
): Float32Array {
  checkSeed(seed);
  const rng = new Xoshiro128(streamKey(seed, sampleIndex, stream));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = (rng.nextUint32() + 1) / 4294967296;
    const u2 = rng.nextUint32() / 4294967296;
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Noise for a batch: sample b uses stream (seed, firstIndex + b). */
export function batchNoise(
  seed: number,
  samples: number,
  perSample: number,
  stream = 0,
  firstIndex = 0,
): Float32Array {
  const out = new Float32Array(samples * perSample);
  for (let b = 0; b < samples; b++) {
    out.set(gaussianNoise(seed, firstIndex + b, perSample, stream), b * perSample);
  }
  return out;
}
