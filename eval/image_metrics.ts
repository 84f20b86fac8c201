/**
 * Full-reference image metrics comparing a compressed sample with the uncompressed one.
 *
 * Value range: model samples live in [-1, 1]. `psnr(a, b, 2)` on them equals PSNR after mapping
 * to [0, 1] (it only sees differences). SSIM's luminance term also depends on the absolute
 * means, so `ssim` takes the images' `valueRange` (default [0, 1]) and maps them to [0, 1] itself:
 * pass `valueRange: [-1, 1]` for model samples.
 *
 * @module
 */

import { OptionError, ShapeError } from "../src/errors.ts";

/** Options of `ssim`; defaults are those of Wang et al. (2004). */
export interface SsimOptions {
  /** Range the values are in, mapped to [0, 1] (data range L = 1); default [0, 1]. */
  valueRange?: [number, number];
  /** Channel count of planar [C, H, W] images; default length / (width·height). */
  channels?: number;
  /** Gaussian window side; default 11. */
  windowSize?: number;
  /** Gaussian window standard deviation in pixels; default 1.5. */
  sigma?: number;
  /** Default 0.01. */
  k1?: number;
  /** Default 0.03. */
  k2?: number;
}

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) {
    throw new ShapeError(`${what}: images have ${a.length} and ${b.length} values`);
  }
  if (a.length === 0) throw new ShapeError(`${what}: images are empty`);
}

/** Peak signal-to-noise ratio in dB, 10·log10(L² / MSE); Infinity for identical images. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, dataRange = 1): number {
  checkPair(a, b, "psnr");
  if (!(dataRange > 0)) throw new OptionError(`psnr: dataRange must be positive, got ${dataRange}`);
  let squared = 0;
  for (let i = 0; i < a.length; i++) squared += (a[i] - b[i]) ** 2;
  const mse = squared / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((dataRange * dataRange) / mse);
}

/** ‖a − b‖₁ / ‖b‖₁: mean absolute error relative to the reference `b` (0 if both are zero). */
export function meanRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, "meanRelativeError");
  let difference = 0;
  let reference = 0;
  for (let i = 0; i < a.length; i++) {
    difference += Math.abs(a[i] - b[i]);
    reference += Math.abs(b[i]);
  }
  return ratio(difference, reference);
}

/** ‖a − b‖₂ / ‖b‖₂ relative to the reference `b` (0 if both are zero). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, "relativeL2");
  let difference = 0;
  let reference = 0;
  for (let i = 0; i < a.length; i++) {
    difference += (a[i] - b[i]) ** 2;
    reference += b[i] ** 2;
  }
  return ratio(Math.sqrt(difference), Math.sqrt(reference));
}

function ratio(difference: number, reference: number): number {
  if (reference === 0) return difference === 0 ? 0 : Infinity;
  return difference / reference;
}

/**
 * Mean structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004): local statistics under a
 * normalised Gaussian window, averaged over the window positions that fit entirely inside the
 * image (no padding), then over channels. Images are planar [C, H, W].
 */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  width: number,
  height: number,
  options: SsimOptions = {},
): number {
  checkPair(a, b, "ssim");
  const { valueRange = [0, 1], windowSize = 11, sigma = 1.5, k1 = 0.01, k2 = 0.03 } = options;
  const [low, high] = valueRange;
  const plane = width * height;
  const channels = options.channels ?? a.length / plane;
  if (!Number.isInteger(channels) || channels < 1 || channels * plane !== a.length) {
    const wanted = options.channels ?? "whole";
    throw new ShapeError(
      `ssim: ${a.length} values are not ${wanted} channel(s) of ${width}×${height}`,
    );
  }
  if (!(high > low) || !(sigma > 0)) {
    throw new OptionError(
      `ssim: valueRange [${low}, ${high}] must be increasing and sigma (${sigma}) positive`,
    );
  }
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize % 2 === 0) {
    throw new OptionError(`ssim: windowSize must be a positive odd integer, got ${windowSize}`);
  }
  if (windowSize > width || windowSize > height) {
    throw new ShapeError(
      `ssim: a ${windowSize}×${windowSize} window does not fit a ${width}×${height} image`,
    );
  }
  const weights = gaussianWindow(windowSize, sigma);
  const c1 = k1 ** 2;
  const c2 = k2 ** 2;
  const unit = { low, scale: 1 / (high - low) };
  let total = 0;
  for (let channel = 0; channel < channels; channel++) {
    total += channelSsim(a, b, unit, channel * plane, width, height, weights, c1, c2);
  }
  return total / channels;
}

function gaussianWindow(size: number, sigma: number): Float64Array {
  const radius = (size - 1) / 2;
  const weights = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    weights[i] = Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma));
    sum += weights[i];
  }
  for (let i = 0; i < size; i++) weights[i] /= sum;
  return weights;
}

/**
 * The five local moments (E[a], E[b], E[a²], E[b²], E[ab]) come from one separable pass each
 * (rows, then columns) of the 1-D Gaussian; the 2-D window is its outer product.
 */
function channelSsim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  unit: { low: number; scale: number },
  offset: number,
  width: number,
  height: number,
  weights: Float64Array,
  c1: number,
  c2: number,
): number {
  const size = weights.length;
  const outWidth = width - size + 1;
  const outHeight = height - size + 1;
  const plane = width * height;
  const unitA = new Float64Array(plane);
  const unitB = new Float64Array(plane);
  for (let i = 0; i < plane; i++) {
    unitA[i] = (a[offset + i] - unit.low) * unit.scale;
    unitB[i] = (b[offset + i] - unit.low) * unit.scale;
  }
  const fields = [
    (i: number) => unitA[i],
    (i: number) => unitB[i],
    (i: number) => unitA[i] * unitA[i],
    (i: number) => unitB[i] * unitB[i],
    (i: number) => unitA[i] * unitB[i],
  ];
  const [meanA, meanB, meanAA, meanBB, meanAB] = fields.map((field) => {
    const rows = new Float64Array(height * outWidth);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let t = 0; t < size; t++) sum += weights[t] * field(y * width + x + t);
        rows[y * outWidth + x] = sum;
      }
    }
    const filtered = new Float64Array(outHeight * outWidth);
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let t = 0; t < size; t++) sum += weights[t] * rows[(y + t) * outWidth + x];
        filtered[y * outWidth + x] = sum;
      }
    }
    return filtered;
  });
  let total = 0;
  for (let i = 0; i < meanA.length; i++) {
    const muA = meanA[i];
    const muB = meanB[i];
    // Population (weighted) moments, as in the paper; differences of near-equal sums can dip
    // a hair below zero for flat regions, which the constants C1, C2 absorb.
    const varianceA = meanAA[i] - muA * muA;
    const varianceB = meanBB[i] - muB * muB;
    const covariance = meanAB[i] - muA * muB;
    total += ((2 * muA * muB + c1) * (2 * covariance + c2)) /
      ((muA * muA + muB * muB + c1) * (varianceA + varianceB + c2));
  }
  return total / meanA.length;
}
