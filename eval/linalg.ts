/**
 * Dense symmetric eigendecomposition for the evaluation metrics (PCA on 784×784 pixel
 * covariances, matrix square roots of small feature covariances).
 *
 * Householder reduction to tridiagonal form, then implicit symmetric QR steps with the Wilkinson
 * shift (Golub & Van Loan, "Matrix Computations", §8.3). Chosen over Jacobi because it is O(n³)
 * with a small constant, so a 784×784 covariance takes about a second in plain TypeScript, and
 * because it involves no randomness: the same matrix always gives the same basis.
 *
 * @module
 */

import { ShapeError } from "../src/errors.ts";

/** Eigenpairs of a symmetric matrix, sorted by descending eigenvalue. */
export interface SymmetricEigen {
  /** Matrix size n. */
  size: number;
  /** n eigenvalues, largest first. */
  values: Float64Array;
  /** n×n row-major; row i is the unit eigenvector of `values[i]`. */
  vectors: Float64Array;
}

const MAX_SWEEPS_PER_EIGENVALUE = 30;

/**
 * Eigendecomposition of the symmetric n×n row-major `matrix` (only read, never modified).
 * Each eigenvector's sign is fixed so that its largest-magnitude entry is positive, which makes
 * PCA bases reproducible across runs and machines.
 */
export function symmetricEigen(matrix: Float64Array, size: number): SymmetricEigen {
  if (matrix.length !== size * size) {
    throw new ShapeError(
      `symmetricEigen: expected ${size}×${size} = ${size * size} values, got ${matrix.length}`,
    );
  }
  const work = Float64Array.from(matrix);
  const diagonal = new Float64Array(size);
  const offDiagonal = new Float64Array(Math.max(size - 1, 0));
  const basis = tridiagonalize(work, size, diagonal, offDiagonal);
  diagonalizeTridiagonal(diagonal, offDiagonal, basis, size);
  return sortedPairs(diagonal, basis, size);
}

/**
 * Overwrites `work` while reducing it to T = Qᵀ A Q; fills T's diagonal and off-diagonal and
 * returns Qᵀ (row-major), i.e. row i of the result is the i-th column of Q.
 */
function tridiagonalize(
  work: Float64Array,
  n: number,
  diagonal: Float64Array,
  offDiagonal: Float64Array,
): Float64Array {
  const reflectors: { vector: Float64Array; beta: number }[] = [];
  const product = new Float64Array(n);
  for (let k = 0; k + 2 < n; k++) {
    const m = n - k - 1;
    const row = k * n + k + 1;
    let tailNormSq = 0;
    for (let i = 1; i < m; i++) tailNormSq += work[row + i] ** 2;
    const head = work[row];
    diagonal[k] = work[k * n + k];
    if (tailNormSq === 0) {
      // Column already has the tridiagonal shape; H = I keeps the accumulated basis exact.
      offDiagonal[k] = head;
      reflectors.push({ vector: new Float64Array(0), beta: 0 });
      continue;
    }
    const norm = Math.sqrt(head * head + tailNormSq);
    // Reflect onto −sign(head)·‖x‖ so that v₀ = head − alpha never cancels.
    const alpha = head >= 0 ? -norm : norm;
    const v = work.slice(row, row + m);
    v[0] = head - alpha;
    const beta = 2 / (v[0] * v[0] + tailNormSq);
    // Trailing block B ← H B H with H = I − β v vᵀ, as the symmetric rank-2 update
    // B − v wᵀ − w vᵀ where p = β B v and w = p − (β/2)(pᵀv) v.
    const start = (k + 1) * n + k + 1;
    let pv = 0;
    for (let i = 0; i < m; i++) {
      const base = start + i * n;
      let sum = 0;
      for (let j = 0; j < m; j++) sum += work[base + j] * v[j];
      product[i] = beta * sum;
      pv += product[i] * v[i];
    }
    const half = 0.5 * beta * pv;
    for (let i = 0; i < m; i++) product[i] -= half * v[i];
    for (let i = 0; i < m; i++) {
      const base = start + i * n;
      const vi = v[i];
      const wi = product[i];
      for (let j = 0; j < m; j++) work[base + j] -= vi * product[j] + wi * v[j];
    }
    offDiagonal[k] = alpha;
    reflectors.push({ vector: v, beta });
  }
  if (n >= 2) {
    diagonal[n - 2] = work[(n - 2) * n + n - 2];
    offDiagonal[n - 2] = work[(n - 2) * n + n - 1];
  }
  if (n >= 1) diagonal[n - 1] = work[n * n - 1];
  return accumulateBasis(reflectors, n);
}

/**
 * Forms Qᵀ = H_{n−3}···H₀ by applying reflectors last-first, so each one only touches the
 * trailing block where the partial product differs from the identity (4/3·n³ instead of 2n³).
 * Applying H on the right of Qᵀ keeps every inner loop on a contiguous row.
 */
function accumulateBasis(
  reflectors: { vector: Float64Array; beta: number }[],
  n: number,
): Float64Array {
  const basisT = new Float64Array(n * n);
  for (let i = 0; i < n; i++) basisT[i * n + i] = 1;
  for (let k = reflectors.length - 1; k >= 0; k--) {
    const { vector: v, beta } = reflectors[k];
    if (beta === 0) continue;
    const offset = k + 1;
    const m = n - offset;
    // Rows < k+1 of the partial product are still identity rows, zero on columns ≥ k+1.
    for (let r = offset; r < n; r++) {
      const base = r * n + offset;
      let dot = 0;
      for (let j = 0; j < m; j++) dot += basisT[base + j] * v[j];
      const scale = beta * dot;
      if (scale === 0) continue;
      for (let j = 0; j < m; j++) basisT[base + j] -= scale * v[j];
    }
  }
  return basisT;
}

/**
 * Implicit-shift QR on the tridiagonal (diagonal, offDiagonal) until it is diagonal, applying
 * every Givens rotation to the rows of `basis` so they become the eigenvectors of A.
 */
function diagonalizeTridiagonal(
  diagonal: Float64Array,
  offDiagonal: Float64Array,
  basis: Float64Array,
  n: number,
): void {
  const epsilon = Number.EPSILON;
  let sweeps = 0;
  let hi = n - 1;
  while (hi > 0) {
    if (
      Math.abs(offDiagonal[hi - 1]) <=
        epsilon * (Math.abs(diagonal[hi - 1]) + Math.abs(diagonal[hi]))
    ) {
      offDiagonal[hi - 1] = 0;
      hi--;
      continue;
    }
    let lo = hi - 1;
    while (
      lo > 0 &&
      Math.abs(offDiagonal[lo - 1]) >
        epsilon * (Math.abs(diagonal[lo - 1]) + Math.abs(diagonal[lo]))
    ) lo--;
    if (lo > 0) offDiagonal[lo - 1] = 0;
    if (++sweeps > MAX_SWEEPS_PER_EIGENVALUE * n) {
      throw new ShapeError(
        `symmetricEigen: QR iteration did not converge for a ${n}×${n} matrix (NaN or Inf entries?)`,
      );
    }
    shiftedQrStep(diagonal, offDiagonal, basis, n, lo, hi);
  }
}

/** One Wilkinson-shifted implicit QR step on the unreduced block lo..hi (bulge chasing). */
function shiftedQrStep(
  diagonal: Float64Array,
  offDiagonal: Float64Array,
  basis: Float64Array,
  n: number,
  lo: number,
  hi: number,
): void {
  // The eigenvalue of the trailing 2×2 nearer its last entry: cubic convergence for symmetric T.
  const tail = offDiagonal[hi - 1];
  const delta = 0.5 * (diagonal[hi - 1] - diagonal[hi]);
  const shift = diagonal[hi] -
    (tail * tail) / (delta + (delta >= 0 ? 1 : -1) * Math.hypot(delta, tail));
  let x = diagonal[lo] - shift;
  let z = offDiagonal[lo];
  for (let k = lo; k < hi; k++) {
    const r = Math.hypot(x, z);
    const c = r === 0 ? 1 : x / r;
    const s = r === 0 ? 0 : z / r;
    // Rotate rows/columns k, k+1; at k > lo this also annihilates the bulge at (k−1, k+1).
    if (k > lo) offDiagonal[k - 1] = r;
    const a = diagonal[k];
    const b = offDiagonal[k];
    const d = diagonal[k + 1];
    const cs = c * s;
    diagonal[k] = c * c * a + 2 * cs * b + s * s * d;
    diagonal[k + 1] = s * s * a - 2 * cs * b + c * c * d;
    offDiagonal[k] = cs * (d - a) + (c * c - s * s) * b;
    if (k + 1 < hi) {
      const next = offDiagonal[k + 1];
      x = offDiagonal[k];
      z = s * next;
      offDiagonal[k + 1] = c * next;
    }
    const rowK = k * n;
    const rowNext = rowK + n;
    for (let j = 0; j < n; j++) {
      const u = basis[rowK + j];
      const w = basis[rowNext + j];
      basis[rowK + j] = c * u + s * w;
      basis[rowNext + j] = c * w - s * u;
    }
  }
}

function sortedPairs(diagonal: Float64Array, basis: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i);
  // Stable on ties so equal eigenvalues keep a reproducible order.
  order.sort((i, j) => diagonal[j] - diagonal[i] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    values[to] = diagonal[from];
    const source = basis.subarray(from * n, from * n + n);
    let peak = 0;
    for (let j = 1; j < n; j++) if (Math.abs(source[j]) > Math.abs(source[peak])) peak = j;
    const sign = source[peak] < 0 ? -1 : 1;
    // `+ 0` turns −0 into 0 so a basis survives a JSON round trip bit for bit.
    for (let j = 0; j < n; j++) vectors[to * n + j] = sign * source[j] + 0;
  });
  return { size: n, values, vectors };
}
