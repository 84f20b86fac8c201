/**
 * Fréchet distance between generated samples and real Fashion-MNIST images.
 *
 * Why this feature space: FID's Inception network is not reachable here, and a network trained
 * for the purpose would be one more model to trust. The top-k principal components of real
 * training images (28×28 in [0, 1]) are instead a fixed, deterministic feature space derived
 * from the data alone; they capture the dominant modes (silhouette, class-typical shapes,
 * brightness) where a sampler's errors show up first. The Fréchet distance between Gaussians
 * fitted to those features is then FID's formula in that space, comparable between runs of the
 * same evaluator settings (not with published FIDs).
 *
 * @module
 */

import { OptionError, ShapeError } from "../src/errors.ts";
import {
  type FashionMnist,
  fashionMnistImage,
  fromModelSpace,
  loadFashionMnist,
  toUnitRange,
} from "./fashion_mnist.ts";
import { symmetricEigen } from "./linalg.ts";
import { writeBytes } from "../deno.ts";
import { fitPcaFeatures, type PcaFeatures, project } from "./pca.ts";

export { fitPcaFeatures, type PcaFeatures, project } from "./pca.ts";

/** Mean and unbiased covariance (k×k row-major) of a set of feature vectors. */
export interface GaussianStats {
  dimension: number;
  count: number;
  mean: Float64Array;
  covariance: Float64Array;
}

/** Fits a Gaussian to `features` (each of the same length; at least 2 of them). */
export function gaussianStats(features: Float64Array[]): GaussianStats {
  if (features.length < 2) {
    throw new OptionError(`gaussianStats: need at least 2 feature vectors, got ${features.length}`);
  }
  const dimension = features[0].length;
  const mean = new Float64Array(dimension);
  for (const feature of features) {
    if (feature.length !== dimension) {
      throw new ShapeError(
        `gaussianStats: feature vectors of lengths ${dimension} and ${feature.length}`,
      );
    }
    for (let i = 0; i < dimension; i++) mean[i] += feature[i];
  }
  for (let i = 0; i < dimension; i++) mean[i] /= features.length;
  const covariance = new Float64Array(dimension * dimension);
  const centered = new Float64Array(dimension);
  for (const feature of features) {
    for (let i = 0; i < dimension; i++) centered[i] = feature[i] - mean[i];
    for (let i = 0; i < dimension; i++) {
      for (let j = i; j < dimension; j++) {
        covariance[i * dimension + j] += centered[i] * centered[j];
      }
    }
  }
  for (let i = 0; i < dimension; i++) {
    for (let j = i; j < dimension; j++) {
      const value = covariance[i * dimension + j] / (features.length - 1);
      covariance[i * dimension + j] = value;
      covariance[j * dimension + i] = value;
    }
  }
  return { dimension, count: features.length, mean, covariance };
}

/**
 * ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa Σb)^½). The trace of the square root is taken as Σ√λ over the
 * eigenvalues of Σa^½ Σb Σa^½, which is symmetric PSD (same spectrum as Σa Σb), so no
 * non-symmetric square root and no complex round-off as in scipy's sqrtm. Tiny negative
 * eigenvalues and a tiny negative total are round-off and clamped to zero.
 */
export function frechetDistanceFromStats(a: GaussianStats, b: GaussianStats): number {
  if (a.dimension !== b.dimension) {
    throw new ShapeError(
      `frechetDistance: feature dimensions ${a.dimension} and ${b.dimension} differ`,
    );
  }
  const n = a.dimension;
  let meanTerm = 0;
  let traceTerm = 0;
  for (let i = 0; i < n; i++) {
    meanTerm += (a.mean[i] - b.mean[i]) ** 2;
    traceTerm += a.covariance[i * n + i] + b.covariance[i * n + i];
  }
  const rootA = symmetricSqrt(a.covariance, n);
  const product = multiply(multiply(rootA, b.covariance, n), rootA, n);
  // Symmetrise: the two products differ from an exactly symmetric matrix by round-off only.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const value = 0.5 * (product[i * n + j] + product[j * n + i]);
      product[i * n + j] = value;
      product[j * n + i] = value;
    }
  }
  let rootTrace = 0;
  for (const value of symmetricEigen(product, n).values) rootTrace += Math.sqrt(Math.max(value, 0));
  return Math.max(0, meanTerm + traceTerm - 2 * rootTrace);
}

/** Fréchet distance between Gaussians fitted to two feature sets. */
export function frechetDistance(featA: Float64Array[], featB: Float64Array[]): number {
  return frechetDistanceFromStats(gaussianStats(featA), gaussianStats(featB));
}

function symmetricSqrt(matrix: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const root = new Float64Array(n * n);
  for (let e = 0; e < n; e++) {
    const scale = Math.sqrt(Math.max(values[e], 0));
    if (scale === 0) continue;
    const v = vectors.subarray(e * n, e * n + n);
    for (let i = 0; i < n; i++) {
      const vi = scale * v[i];
      for (let j = 0; j < n; j++) root[i * n + j] += vi * v[j];
    }
  }
  return root;
}

function multiply(left: Float64Array, right: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < n; t++) {
      const scale = left[i * n + t];
      for (let j = 0; j < n; j++) out[i * n + j] += scale * right[t * n + j];
    }
  }
  return out;
}

/** Options of `FrechetEvaluator.create`. */
export interface FrechetEvaluatorOptions {
  /** Fashion-MNIST directory; default `FASHION_MNIST_DIR`. */
  dir?: string;
  /** Training images the PCA basis is fitted on (the first ones); default 10000. */
  trainCount?: number;
  /** Test images the samples are compared with (the first ones); default 10000 (all). */
  testCount?: number;
  /** Principal components k; default 32. */
  k?: number;
  /**
   * Held-out training images (after the first `trainCount`) used for the real-data reference
   * distance; default 10000. Caps the sample count the reference is computed for.
   */
  referencePoolCount?: number;
  /** JSON file caching the PCA basis; refitted and rewritten when its settings differ. */
  cacheFile?: string;
}

/** Result of `FrechetEvaluator.distanceTo`. */
export interface FrechetReport {
  /** FD between the samples and the test images. */
  frechetDistance: number;
  /**
   * FD between as many real held-out images as there are samples and the same test images:
   * what a perfect sampler would score at this sample count (FD is biased upwards for few
   * samples, so compare `frechetDistance` with this, not with zero).
   */
  referenceDistance: number;
  sampleCount: number;
  referenceCount: number;
  testCount: number;
  components: number;
}

const TRAIN_SIZE = 60000;
const PIXELS = 28 * 28;
const TEST_SIZE = 10000;
const CACHE_FORMAT = "ditfastattn-fmnist-pca-v1";

/**
 * Loads Fashion-MNIST once, fits (or reads) the PCA basis and keeps the test set's features,
 * then scores sample sets against them.
 */
export class FrechetEvaluator {
  private constructor(
    /** The feature space. */
    readonly pca: PcaFeatures,
    /** Features of the test images the samples are compared with. */
    readonly testFeatures: Float64Array[],
    /** Gaussian of `testFeatures`. */
    readonly testStats: GaussianStats,
    /** Held-out real 28×28 uint8 images, projected only as far as a sample count needs. */
    private readonly referencePool: Uint8Array,
  ) {}

  private readonly referenceFeatures: Float64Array[] = [];

  /** Loads the data and fits the basis (a few seconds without a cache file). */
  static async create(options: FrechetEvaluatorOptions = {}): Promise<FrechetEvaluator> {
    const { dir, trainCount = 10000, testCount = TEST_SIZE, k = 32, referencePoolCount = 10000 } =
      options;
    checkCount("trainCount", trainCount, 2, TRAIN_SIZE);
    checkCount("testCount", testCount, 2, TEST_SIZE);
    checkCount("referencePoolCount", referencePoolCount, 2, TRAIN_SIZE - trainCount);
    const [train, test] = await Promise.all([
      loadFashionMnist("train", { dir, limit: trainCount + referencePoolCount }),
      loadFashionMnist("test", { dir, limit: testCount }),
    ]);
    let pca = options.cacheFile ? await readCachedPca(options.cacheFile, trainCount, k) : undefined;
    if (!pca) {
      pca = fitPcaFeatures(unitImages(train, 0, trainCount), k);
      if (options.cacheFile) await writeCachedPca(options.cacheFile, pca);
    }
    const testFeatures = unitImages(test, 0, testCount).map((image) => project(pca, image));
    const referencePool = train.images.slice(trainCount * PIXELS);
    return new FrechetEvaluator(pca, testFeatures, gaussianStats(testFeatures), referencePool);
  }

  /**
   * Scores `samples`, each either a model sample ([1, 32, 32] = 1024 values in [-1, 1], cropped
   * to the central 28×28 and clamped) or a 28×28 image (784 values in [0, 1]). Needs ≥ 2.
   */
  distanceTo(samples: Float32Array[]): FrechetReport {
    if (samples.length < 2) {
      throw new OptionError(`FrechetEvaluator: need at least 2 samples, got ${samples.length}`);
    }
    const features = samples.map((sample, index) => {
      if (sample.length === 1024) return project(this.pca, fromModelSpace(sample));
      if (sample.length === 784) return project(this.pca, sample);
      throw new ShapeError(
        `FrechetEvaluator: sample ${index} has ${sample.length} values, expected 1024 (32×32) or 784 (28×28)`,
      );
    });
    const reference = this.referenceFeaturesFor(samples.length);
    return {
      frechetDistance: frechetDistanceFromStats(gaussianStats(features), this.testStats),
      referenceDistance: frechetDistanceFromStats(gaussianStats(reference), this.testStats),
      sampleCount: samples.length,
      referenceCount: reference.length,
      testCount: this.testStats.count,
      components: this.pca.componentCount,
    };
  }

  private referenceFeaturesFor(count: number): Float64Array[] {
    const available = Math.min(count, this.referencePool.length / PIXELS);
    for (let i = this.referenceFeatures.length; i < available; i++) {
      const image = toUnitRange(this.referencePool.subarray(i * PIXELS, (i + 1) * PIXELS));
      this.referenceFeatures.push(project(this.pca, image));
    }
    return this.referenceFeatures.slice(0, available);
  }
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(
      `FrechetEvaluator: ${name} ${value} must be an integer in [${min}, ${max}]`,
    );
  }
}

function unitImages(data: FashionMnist, first: number, count: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => toUnitRange(fashionMnistImage(data, first + i)));
}

async function readCachedPca(
  path: string,
  fitCount: number,
  k: number,
): Promise<PcaFeatures | undefined> {
  let cached;
  try {
    cached = JSON.parse(await Deno.readTextFile(path));
  } catch {
    // Missing or unreadable cache: refit, and the write below repairs it.
    return undefined;
  }
  if (
    cached?.format !== CACHE_FORMAT || cached.fitCount !== fitCount || cached.componentCount !== k
  ) return undefined;
  const pca: PcaFeatures = {
    pixelCount: cached.pixelCount,
    componentCount: k,
    mean: Float64Array.from(cached.mean),
    components: Float64Array.from(cached.components),
    componentVariances: Float64Array.from(cached.componentVariances),
    fitCount,
  };
  const consistent = pca.mean.length === pca.pixelCount &&
    pca.components.length === k * pca.pixelCount &&
    pca.componentVariances.length === k;
  return consistent ? pca : undefined;
}

async function writeCachedPca(path: string, pca: PcaFeatures): Promise<void> {
  // JSON prints doubles in shortest round-trip form, so a cached basis reproduces exactly.
  await writeBytes(
    path,
    JSON.stringify({
      format: CACHE_FORMAT,
      fitCount: pca.fitCount,
      pixelCount: pca.pixelCount,
      componentCount: pca.componentCount,
      mean: Array.from(pca.mean),
      components: Array.from(pca.components),
      componentVariances: Array.from(pca.componentVariances),
    }),
  );
}
