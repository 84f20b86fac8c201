/** Test helpers: seeded random data, error norms, a VAE decode read back, golden-file access. */

import type { Gpu } from "../src/gpu/context.ts";
import type { VaeDecoder } from "../models/vae/model.ts";
import { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";
/** The shared GPU for tests. */
export function testGpu(): Promise<Gpu> {
  return getGpu();
}

/** Deterministic uniform/normal values (mulberry32 + Box–Muller) for test inputs. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = Math.max(next(), 1e-12);
    const u2 = next();
    out[i] = scale * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/** ‖actual − expected‖ / ‖expected‖ over all elements. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i] - expected[i];
    diff += d * d;
    ref += expected[i] * expected[i];
  }
  if (!Number.isFinite(diff)) return Infinity;
  return Math.sqrt(diff) / Math.max(Math.sqrt(ref), 1e-30);
}

/** Asserts a relative error is within `tolerance`, printing both on failure. */
export function assertRelativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
): void {
  const err = relativeError(actual, expected);
  if (!(err <= tolerance)) {
    throw new Error(`${what}: relative error ${err.toExponential(3)} > tolerance ${tolerance}`);
  }
}

/** `decoder.decode` of latents held on the CPU, read back; the tensors are released. */
export async function decodeImages(
  decoder: VaeDecoder,
  latents: Float32Array,
  shape: readonly number[],
): Promise<Float32Array> {
  const x = Tensor.fromArray(decoder.gpu, latents, shape);
  const images = decoder.decode(x);
  const values = await images.toFloat32();
  for (const t of [x, images]) t.release();
  return values;
}

/** The golden folder: $GOLDEN_DIR when set, else tests/golden beside this file. */
export function goldenDir(): string {
  const fromEnv = Deno.env.get("GOLDEN_DIR");
  if (fromEnv) return fromEnv;
  return new URL("./golden", import.meta.url).pathname;
}
