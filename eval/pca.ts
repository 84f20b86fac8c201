/**
 * Principal-component features of 28×28 images: the fixed, data-derived feature space of the
 * Fréchet metric in `frechet.ts`.
 *
 * @module
 */

import { OptionError, ShapeError } from "../src/errors.ts";
import { symmetricEigen } from "./linalg.ts";

/** A fitted PCA basis (typed arrays of plain numbers; `FrechetEvaluator` caches it as JSON). */
export interface PcaFeatures {
  /** Pixels per image (784 for 28×28). */
  pixelCount: number;
  /** Number of components k. */
  componentCount: number;
  /** Per-pixel mean of the fitting images. */
  mean: Float64Array;
  /** k×pixelCount row-major, orthonormal rows, largest variance first. */
  components: Float64Array;
  /** Variance of the fitting images along each component (the covariance eigenvalues). */
  componentVariances: Float64Array;
  /** Number of images the basis was fitted on. */
  fitCount: number;
}

// Images per block of the covariance product: big enough to amortise each pass over the
// pixel×pixel accumulator, small enough that a block stays in cache.
const COVARIANCE_BLOCK = 64;

/**
 * Fits the top-k principal components of `images` (each `pixelCount` values, normally 784 in
 * [0, 1]) from their sample covariance. Deterministic: same images, same basis, same signs.
 */
export function fitPcaFeatures(images: Float32Array[], componentCount: number): PcaFeatures {
  if (images.length < 2) {
    throw new OptionError(`fitPcaFeatures: need at least 2 images, got ${images.length}`);
  }
  const pixelCount = images[0].length;
  if (!Number.isInteger(componentCount) || componentCount < 1 || componentCount > pixelCount) {
    throw new OptionError(
      `fitPcaFeatures: component count ${componentCount} must be an integer in [1, ${pixelCount}]`,
    );
  }
  images.forEach((image, index) => {
    if (image.length !== pixelCount) {
      throw new ShapeError(
        `fitPcaFeatures: image ${index} has ${image.length} values, image 0 has ${pixelCount}`,
      );
    }
  });
  const mean = new Float64Array(pixelCount);
  for (const image of images) for (let p = 0; p < pixelCount; p++) mean[p] += image[p];
  for (let p = 0; p < pixelCount; p++) mean[p] /= images.length;

  const covariance = centeredCovariance(images, mean);
  const eigen = symmetricEigen(covariance, pixelCount);
  return {
    pixelCount,
    componentCount,
    mean,
    components: eigen.vectors.slice(0, componentCount * pixelCount),
    componentVariances: eigen.values.slice(0, componentCount),
    fitCount: images.length,
  };
}

/** Coordinates of `image` (pixelCount values, same range as the fit) in the PCA basis. */
export function project(features: PcaFeatures, image: Float32Array): Float64Array {
  const { pixelCount, componentCount, mean, components } = features;
  if (image.length !== pixelCount) {
    throw new ShapeError(
      `project: image has ${image.length} values, the PCA basis expects ${pixelCount}`,
    );
  }
  const centered = new Float64Array(pixelCount);
  for (let p = 0; p < pixelCount; p++) centered[p] = image[p] - mean[p];
  const coordinates = new Float64Array(componentCount);
  for (let c = 0; c < componentCount; c++) {
    const row = c * pixelCount;
    let sum = 0;
    for (let p = 0; p < pixelCount; p++) sum += components[row + p] * centered[p];
    coordinates[c] = sum;
  }
  return coordinates;
}

/**
 * Unbiased (N − 1) covariance of the centred images. Blocks of images are transposed to
 * pixel-major rows so each accumulator entry is a contiguous dot product; only the upper
 * triangle is computed, then mirrored.
 */
function centeredCovariance(images: Float32Array[], mean: Float64Array): Float64Array {
  const d = mean.length;
  const covariance = new Float64Array(d * d);
  const block = new Float64Array(d * COVARIANCE_BLOCK);
  for (let first = 0; first < images.length; first += COVARIANCE_BLOCK) {
    const count = Math.min(COVARIANCE_BLOCK, images.length - first);
    for (let b = 0; b < count; b++) {
      const image = images[first + b];
      for (let p = 0; p < d; p++) block[p * COVARIANCE_BLOCK + b] = image[p] - mean[p];
    }
    accumulateBlockProducts(block, count, d, covariance);
  }
  const scale = 1 / (images.length - 1);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const value = covariance[i * d + j] * scale;
      covariance[i * d + j] = value;
      covariance[j * d + i] = value;
    }
  }
  return covariance;
}

/**
 * Adds the upper triangle of blockᵀ·block (pixel-major rows of `count` centred images) into
 * `covariance`. Entries are computed in 2×2 tiles: four dot products share each pair of row
 * loads, which roughly doubles throughput over one dot product at a time in V8.
 */
function accumulateBlockProducts(
  block: Float64Array,
  count: number,
  d: number,
  covariance: Float64Array,
): void {
  const stride = COVARIANCE_BLOCK;
  for (let i = 0; i < d; i += 2) {
    const i1 = Math.min(i + 1, d - 1);
    const rowA = i * stride;
    const rowB = i1 * stride;
    for (let j = i; j < d; j += 2) {
      const j1 = Math.min(j + 1, d - 1);
      const colA = j * stride;
      const colB = j1 * stride;
      let aa = 0;
      let ab = 0;
      let ba = 0;
      let bb = 0;
      for (let t = 0; t < count; t++) {
        const xa = block[rowA + t];
        const xb = block[rowB + t];
        const ya = block[colA + t];
        const yb = block[colB + t];
        aa += xa * ya;
        ab += xa * yb;
        ba += xb * ya;
        bb += xb * yb;
      }
      // Clamped indices at an odd edge alias an entry already written: add each cell once.
      covariance[i * d + j] += aa;
      if (j1 !== j) covariance[i * d + j1] += ab;
      if (i1 !== i && i1 <= j) covariance[i1 * d + j] += ba;
      if (i1 !== i && j1 !== j) covariance[i1 * d + j1] += bb;
    }
  }
}
