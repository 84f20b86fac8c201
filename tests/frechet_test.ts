import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { OptionError, ShapeError } from "../src/errors.ts";
import {
  fashionMnistAvailable,
  fashionMnistImage,
  loadFashionMnist,
  toModelSpace,
  toUnitRange,
} from "../eval/fashion_mnist.ts";
import {
  fitPcaFeatures,
  frechetDistance,
  frechetDistanceFromStats,
  FrechetEvaluator,
  type GaussianStats,
  project,
} from "../eval/frechet.ts";
import { symmetricEigen } from "../eval/linalg.ts";
import { assertThrows } from "./asserts.ts";
import { randomArray } from "./helpers.ts";

const available = await fashionMnistAvailable();

function close(actual: number, expected: number, tolerance: number, what: string): void {
  ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const values = randomArray(n * n, seed);
  const matrix = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) matrix[i * n + j] = values[i * n + j] + values[j * n + i];
  }
  return matrix;
}

/** max |A v − λ v| and max |vᵢ·vⱼ − δᵢⱼ| over all pairs, plus the order check. */
function checkEigen(matrix: Float64Array, n: number, tolerance: number): void {
  const { values, vectors } = symmetricEigen(matrix, n);
  for (let e = 0; e < n; e++) {
    if (e > 0) ok(values[e] <= values[e - 1], "descending");
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < n; j++) sum += matrix[i * n + j] * vectors[e * n + j];
      close(sum, values[e] * vectors[e * n + i], tolerance, `A·v = λ·v, pair ${e}, row ${i}`);
    }
    for (let f = e; f < n; f++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += vectors[e * n + j] * vectors[f * n + j];
      close(dot, e === f ? 1 : 0, tolerance, `v${e}·v${f}`);
    }
  }
}

/** Q diag(spectrum) Qᵀ with Q from Gram–Schmidt on random vectors. */
function withSpectrum(spectrum: number[], seed: number): Float64Array {
  const n = spectrum.length;
  const raw = randomArray(n * n, seed);
  const basis: Float64Array[] = [];
  for (let r = 0; r < n; r++) {
    const v = Float64Array.from(raw.subarray(r * n, r * n + n));
    for (const u of basis) {
      const dot = u.reduce((sum, value, i) => sum + value * v[i], 0);
      for (let i = 0; i < n; i++) v[i] -= dot * u[i];
    }
    const norm = Math.hypot(...v);
    basis.push(v.map((value) => value / norm));
  }
  const matrix = new Float64Array(n * n);
  basis.forEach((u, r) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) matrix[i * n + j] += spectrum[r] * u[i] * u[j];
    }
  });
  return matrix;
}

function stats(mean: number[], covariance: number[]): GaussianStats {
  return {
    dimension: mean.length,
    count: 100,
    mean: Float64Array.from(mean),
    covariance: Float64Array.from(covariance),
  };
}

Deno.test("symmetricEigen: A·v = λ·v and orthonormal vectors on random symmetric matrices", () => {
  for (const n of [1, 2, 3, 17, 64]) checkEigen(randomSymmetric(n, n), n, 1e-10);
  checkEigen(Float64Array.of(3, 0, 0, 0, -1, 0, 0, 0, 2), 3, 0);
});

Deno.test("symmetricEigen: repeated and zero eigenvalues (a rank-deficient covariance)", () => {
  const spectrum = [5, 5, 5, 2, 2, 0, 0, 0, 0, 1e-3];
  const matrix = withSpectrum(spectrum, 11);
  checkEigen(matrix, spectrum.length, 1e-12);
  const { values } = symmetricEigen(matrix, spectrum.length);
  const sorted = [...spectrum].sort((a, b) => b - a);
  values.forEach((value, i) => close(value, sorted[i], 1e-12, `λ${i}`));
});

Deno.test("symmetricEigen is deterministic and fixes each vector's sign", () => {
  const matrix = randomSymmetric(30, 5);
  const first = symmetricEigen(matrix, 30);
  deepStrictEqual(symmetricEigen(matrix, 30), first);
  for (let e = 0; e < 30; e++) {
    const row = Array.from(first.vectors.subarray(e * 30, e * 30 + 30));
    const peak = row.reduce((best, value) => (Math.abs(value) > Math.abs(best) ? value : best), 0);
    ok(peak > 0, `vector ${e}`);
  }
  assertThrows(() => symmetricEigen(new Float64Array(5), 2), ShapeError, "2×2");
});

Deno.test("FD of a feature set with itself is 0", () => {
  const features = Array.from(
    { length: 200 },
    (_, i) => Float64Array.from(randomArray(16, 100 + i)),
  );
  ok(frechetDistance(features, features) < 1e-9, `${frechetDistance(features, features)}`);
});

Deno.test("FD of a shifted copy is the squared shift (equal covariances cancel)", () => {
  const features = Array.from(
    { length: 100 },
    (_, i) => Float64Array.from(randomArray(8, 300 + i)),
  );
  const shift = [1, -2, 0, 0.5, 0, 0, 0, 3];
  const shifted = features.map((feature) => feature.map((value, i) => value + shift[i]));
  close(frechetDistance(features, shifted), 1 + 4 + 0.25 + 9, 1e-9, "FD");
});

Deno.test("FD of diagonal Gaussians: Σ(μa−μb)² + Σ(σa + σb − 2√(σa σb))", () => {
  const meanA = [0, 1, 2];
  const meanB = [1, 1, -1];
  const varA = [1, 4, 0.25];
  const varB = [9, 1, 0.25];
  const diagonal = (v: number[]) => v.flatMap((value, i) => v.map((_, j) => (i === j ? value : 0)));
  let expected = 0;
  for (let i = 0; i < 3; i++) {
    expected += (meanA[i] - meanB[i]) ** 2 + varA[i] + varB[i] - 2 * Math.sqrt(varA[i] * varB[i]);
  }
  const distance = frechetDistanceFromStats(
    stats(meanA, diagonal(varA)),
    stats(meanB, diagonal(varB)),
  );
  close(distance, expected, 1e-12, "FD");
});

Deno.test("FD of non-commuting 2×2 covariances: Tr(ΣaΣb)^½ = √(tr(ΣaΣb) + 2√(det Σa det Σb))", () => {
  const a = [2, 0.8, 0.8, 1];
  const b = [1, -0.3, -0.3, 3];
  const traceProduct = a[0] * b[0] + a[1] * b[2] + a[2] * b[1] + a[3] * b[3];
  const determinants = (a[0] * a[3] - a[1] * a[2]) * (b[0] * b[3] - b[1] * b[2]);
  const rootTrace = Math.sqrt(traceProduct + 2 * Math.sqrt(determinants));
  const expected = 0.5 ** 2 + a[0] + a[3] + b[0] + b[3] - 2 * rootTrace;
  close(frechetDistanceFromStats(stats([0.5, 0], a), stats([0, 0], b)), expected, 1e-12, "FD");
  close(
    frechetDistanceFromStats(stats([0, 0], b), stats([0.5, 0], a)),
    expected,
    1e-12,
    "symmetric",
  );
  assertThrows(
    () => frechetDistanceFromStats(stats([0], [1]), stats([0, 0], b)),
    ShapeError,
    "1 and 2",
  );
  assertThrows(
    () => frechetDistance([new Float64Array(2)], [new Float64Array(2)]),
    OptionError,
    "at least 2",
  );
});

Deno.test("PCA recovers planted directions: orthonormal, variance-ordered, deterministic", () => {
  const dim = 12;
  const planted = [[3, 0], [1.5, 4], [0.5, 9]];
  const images = Array.from({ length: 2000 }, (_, i) => {
    const noise = randomArray(dim + 3, 1000 + i);
    const image = new Float32Array(dim).map((_, p) => 0.5 + 0.01 * noise[3 + p]);
    planted.forEach(([scale, pixel], c) => (image[pixel] += scale * noise[c]));
    return image;
  });
  const pca = fitPcaFeatures(images, 4);
  strictEqual(pca.components.length, 4 * dim);
  for (let c = 0; c < 4; c++) {
    if (c > 0) ok(pca.componentVariances[c] <= pca.componentVariances[c - 1]);
    for (let d = c; d < 4; d++) {
      let dot = 0;
      for (let p = 0; p < dim; p++) {
        dot += pca.components[c * dim + p] * pca.components[d * dim + p];
      }
      close(dot, c === d ? 1 : 0, 1e-12, `component ${c}·${d}`);
    }
  }
  planted.forEach(([scale, pixel], c) => {
    close(Math.abs(pca.components[c * dim + pixel]), 1, 1e-3, `component ${c} on pixel ${pixel}`);
    close(pca.componentVariances[c], scale * scale, 0.15 * scale * scale, `variance ${c}`);
  });
  deepStrictEqual(fitPcaFeatures(images, 4), pca);
  const meanImage = Float32Array.from(pca.mean);
  ok(project(pca, meanImage).every((value) => Math.abs(value) < 1e-6));
  // The variance of the projections along a component is that component's variance.
  const projected = images.map((image) => project(pca, image)[0]);
  const mean = projected.reduce((sum, value) => sum + value, 0) / projected.length;
  const variance = projected.reduce((sum, value) => sum + (value - mean) ** 2, 0) /
    (projected.length - 1);
  close(variance, pca.componentVariances[0], 1e-6 * variance, "projected variance");
  assertThrows(() => fitPcaFeatures(images, 13), OptionError, "[1, 12]");
  assertThrows(() => project(pca, new Float32Array(5)), ShapeError, "expects 12");
});

Deno.test({
  name: "PCA of real Fashion-MNIST: orthonormal components, descending variances",
  ignore: !available,
  async fn() {
    const train = await loadFashionMnist("train", { limit: 1000 });
    const images = Array.from(
      { length: train.count },
      (_, i) => toUnitRange(fashionMnistImage(train, i)),
    );
    const pca = fitPcaFeatures(images, 16);
    let worst = 0;
    for (let c = 0; c < 16; c++) {
      if (c > 0) ok(pca.componentVariances[c] <= pca.componentVariances[c - 1]);
      for (let d = c; d < 16; d++) {
        let dot = 0;
        for (let p = 0; p < 784; p++) {
          dot += pca.components[c * 784 + p] * pca.components[d * 784 + p];
        }
        worst = Math.max(worst, Math.abs(dot - (c === d ? 1 : 0)));
      }
    }
    ok(worst < 1e-10, `orthonormality error ${worst}`);
    ok(pca.componentVariances[15] > 0);
  },
});

Deno.test({
  name: "FrechetEvaluator (default settings): real images score near the reference, blanks far off",
  ignore: !available,
  async fn() {
    const started = performance.now();
    const evaluator = await FrechetEvaluator.create();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `FrechetEvaluator.create (10000 train, 10000 test, k = 32): ${seconds.toFixed(2)} s`,
    );
    strictEqual(evaluator.pca.componentCount, 32);
    strictEqual(evaluator.testFeatures.length, 10000);
    // Held-out training images beyond the PCA fit and the reference pool.
    const train = await loadFashionMnist("train", { limit: 30000 });
    const real = Array.from(
      { length: 200 },
      (_, i) => toModelSpace(fashionMnistImage(train, 29999 - i)),
    );
    const report = evaluator.distanceTo(real);
    strictEqual(report.sampleCount, 200);
    strictEqual(report.referenceCount, 200);
    strictEqual(report.testCount, 10000);
    ok(report.referenceDistance > 0);
    ok(report.frechetDistance < 2 * report.referenceDistance, JSON.stringify(report));
    const blank = Array.from({ length: 200 }, (_, i) => new Float32Array(1024).fill(-1 + i * 1e-4));
    const blankReport = evaluator.distanceTo(blank);
    ok(blankReport.frechetDistance > 10 * report.referenceDistance, JSON.stringify(blankReport));
    // 28×28 [0, 1] samples are accepted as such.
    const unit = Array.from(
      { length: 200 },
      (_, i) => toUnitRange(fashionMnistImage(train, 29999 - i)),
    );
    close(
      evaluator.distanceTo(unit).frechetDistance,
      report.frechetDistance,
      1e-6,
      "same images, two formats",
    );
    assertThrows(
      () => evaluator.distanceTo([new Float32Array(10), new Float32Array(10)]),
      ShapeError,
      "1024",
    );
  },
});

Deno.test({
  name: "FrechetEvaluator cache file reproduces the fitted basis exactly",
  ignore: !available,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "frechet_cache_" });
    const cacheFile = join(dir, "pca.json");
    const options = { trainCount: 200, testCount: 500, referencePoolCount: 100, k: 8, cacheFile };
    const fitted = await FrechetEvaluator.create(options);
    ok((await Deno.stat(cacheFile)).size > 0);
    const cached = await FrechetEvaluator.create(options);
    deepStrictEqual(cached.pca, fitted.pca);
    const other = await FrechetEvaluator.create({ ...options, k: 4 });
    strictEqual(other.pca.componentCount, 4);
    await Deno.remove(dir, { recursive: true });
  },
});
