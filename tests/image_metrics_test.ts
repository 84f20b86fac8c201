import { ok, strictEqual } from "node:assert/strict";
import { OptionError, ShapeError } from "../src/errors.ts";
import { meanRelativeError, psnr, relativeL2, ssim } from "../eval/image_metrics.ts";
import { assertThrows } from "./asserts.ts";
import { randomArray } from "./helpers.ts";

function close(actual: number, expected: number, tolerance: number, what: string): void {
  ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

/** A smooth-ish image in [0, 1]: a gradient plus bounded noise, so SSIM sees real structure. */
function testImage(width: number, height: number, seed: number, channels = 1): Float32Array {
  const noise = randomArray(width * height * channels, seed, 0.1);
  return noise.map((value, i) => {
    const x = i % width;
    const y = Math.floor(i / width) % height;
    return Math.min(1, Math.max(0, 0.5 + 0.3 * Math.sin(x / 3 + y / 5) + value));
  });
}

function addNoise(image: Float32Array, seed: number, scale: number): Float32Array {
  const noise = randomArray(image.length, seed, scale);
  return image.map((value, i) => value + noise[i]);
}

/** SSIM straight from the paper's definition: a full 2-D weighted sum at every window position. */
function directSsim(
  a: Float32Array,
  b: Float32Array,
  width: number,
  height: number,
  channels: number,
): number {
  const size = 11;
  const radius = 5;
  const weights: number[][] = [];
  let weightSum = 0;
  for (let dy = -radius; dy <= radius; dy++) {
    const row: number[] = [];
    for (let dx = -radius; dx <= radius; dx++) {
      const weight = Math.exp(-(dx * dx + dy * dy) / (2 * 1.5 * 1.5));
      row.push(weight);
      weightSum += weight;
    }
    weights.push(row);
  }
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  let total = 0;
  let windows = 0;
  for (let channel = 0; channel < channels; channel++) {
    let channelTotal = 0;
    let channelWindows = 0;
    for (let top = 0; top + size <= height; top++) {
      for (let left = 0; left + size <= width; left++) {
        let muA = 0;
        let muB = 0;
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const at = channel * width * height + (top + y) * width + left + x;
            muA += (weights[y][x] / weightSum) * a[at];
            muB += (weights[y][x] / weightSum) * b[at];
          }
        }
        let varA = 0;
        let varB = 0;
        let cov = 0;
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const at = channel * width * height + (top + y) * width + left + x;
            const w = weights[y][x] / weightSum;
            varA += w * (a[at] - muA) ** 2;
            varB += w * (b[at] - muB) ** 2;
            cov += w * (a[at] - muA) * (b[at] - muB);
          }
        }
        channelTotal += ((2 * muA * muB + c1) * (2 * cov + c2)) /
          ((muA * muA + muB * muB + c1) * (varA + varB + c2));
        channelWindows++;
      }
    }
    total += channelTotal / channelWindows;
    windows++;
  }
  return total / windows;
}

Deno.test("identical images: PSNR is Infinity, SSIM is 1, relative errors are 0", () => {
  const image = testImage(32, 32, 1);
  strictEqual(psnr(image, image), Infinity);
  close(ssim(image, image, 32, 32), 1, 1e-12, "ssim");
  strictEqual(meanRelativeError(image, image), 0);
  strictEqual(relativeL2(image, image), 0);
});

Deno.test("PSNR of a constant offset is 20·log10(L / offset)", () => {
  const reference = new Float32Array(28 * 28).fill(0.25);
  const shifted = reference.map((value) => value + 0.125);
  close(psnr(shifted, reference), 20 * Math.log10(1 / 0.125), 1e-9, "L = 1");
  close(psnr(shifted, reference, 2), 20 * Math.log10(2 / 0.125), 1e-9, "L = 2");
});

Deno.test("SSIM of two constant images is the luminance term (2μaμb + C1) / (μa² + μb² + C1)", () => {
  const a = new Float32Array(16 * 16).fill(0.25);
  const b = new Float32Array(16 * 16).fill(0.75);
  const c1 = 0.01 ** 2;
  close(ssim(a, b, 16, 16), (2 * 0.25 * 0.75 + c1) / (0.25 ** 2 + 0.75 ** 2 + c1), 1e-9, "ssim");
});

Deno.test("SSIM matches a direct per-window implementation on awkward sizes and channels", () => {
  for (const [width, height, channels] of [[17, 13, 1], [11, 11, 1], [20, 15, 2]]) {
    const a = testImage(width, height, 3, channels);
    const b = addNoise(a, 4, 0.08);
    const fast = ssim(a, b, width, height);
    close(fast, directSsim(a, b, width, height, channels), 1e-9, `${width}×${height}×${channels}`);
  }
});

Deno.test("SSIM is symmetric and falls as noise grows", () => {
  const clean = testImage(32, 32, 5);
  const slightly = addNoise(clean, 6, 0.02);
  const heavily = addNoise(clean, 7, 0.2);
  close(ssim(clean, slightly, 32, 32), ssim(slightly, clean, 32, 32), 1e-12, "symmetry");
  const high = ssim(clean, slightly, 32, 32);
  const low = ssim(clean, heavily, 32, 32);
  ok(high < 1 && low < high && low > -1, `ssim ${high} then ${low}`);
  ok(psnr(clean, heavily) < psnr(clean, slightly));
});

Deno.test("[-1, 1] images: PSNR with range 2 and SSIM with valueRange equal the [0, 1] values", () => {
  const a = testImage(28, 28, 8);
  const b = addNoise(a, 9, 0.05);
  const signedA = a.map((value) => value * 2 - 1);
  const signedB = b.map((value) => value * 2 - 1);
  // Only the float32 rounding of the mapped copies separates the two.
  close(psnr(signedA, signedB, 2), psnr(a, b), 1e-5, "psnr");
  close(ssim(signedA, signedB, 28, 28, { valueRange: [-1, 1] }), ssim(a, b, 28, 28), 1e-6, "ssim");
});

Deno.test("relative errors by hand: L1 and L2 relative to the reference", () => {
  const a = [1, 2, 3, -1];
  const b = [1, 1, 1, 1];
  close(meanRelativeError(a, b), (0 + 1 + 2 + 2) / 4, 1e-15, "L1");
  close(relativeL2(a, b), Math.sqrt(0 + 1 + 4 + 4) / 2, 1e-15, "L2");
  strictEqual(relativeL2([1], [0]), Infinity);
  strictEqual(meanRelativeError([0, 0], [0, 0]), 0);
});

Deno.test("metrics reject mismatched shapes and bad options", () => {
  assertThrows(() => psnr([1, 2], [1]), ShapeError, "2 and 1 values");
  assertThrows(() => psnr([1], [1], 0), OptionError, "dataRange");
  const flat = new Float32Array(144);
  assertThrows(() => ssim(flat, flat, 12, 12, { valueRange: [1, -1] }), OptionError, "increasing");
  assertThrows(
    () => ssim(new Float32Array(100), new Float32Array(100), 10, 10),
    ShapeError,
    "11×11 window",
  );
  assertThrows(
    () => ssim(new Float32Array(300), new Float32Array(300), 12, 12),
    ShapeError,
    "12×12",
  );
  assertThrows(
    () => ssim(new Float32Array(144), new Float32Array(144), 12, 12, { windowSize: 4 }),
    OptionError,
    "odd",
  );
});
