/**
 * Plain-TypeScript attention in float64 on the packed qkv layout [B, N, 3·H·D], the reference
 * the GPU kernels are tested against.
 */

/**
 * softmax over keys `keys(i)` (first, last) of `logit(q·k, b, h, i, j)`, times v, in float64
 * over packed qkv [B, N, 3·H·D], max subtracted → [B, N, H·D]: the core every reference shares.
 */
export function referencePackedAttention(
  qkv: Float32Array,
  batch: number,
  tokens: number,
  heads: number,
  headDim: number,
  logit: (dot: number, b: number, h: number, i: number, j: number) => number,
  keys: (i: number) => [number, number] = () => [0, tokens - 1],
): Float32Array {
  const channels = heads * headDim;
  const packed = 3 * channels;
  const out = new Float32Array(batch * tokens * channels);
  const scores = new Float64Array(tokens);
  const acc = new Float64Array(headDim);
  for (let b = 0; b < batch; b++) {
    const base = b * tokens * packed;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tokens; i++) {
        const [first, last] = keys(i);
        const q = base + i * packed + h * headDim;
        let max = -Infinity;
        for (let j = first; j <= last; j++) {
          const k = base + j * packed + channels + h * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += qkv[q + d] * qkv[k + d];
          scores[j] = logit(s, b, h, i, j);
          max = Math.max(max, scores[j]);
        }
        acc.fill(0);
        let sum = 0;
        for (let j = first; j <= last; j++) {
          const p = Math.exp(scores[j] - max);
          sum += p;
          const v = base + j * packed + 2 * channels + h * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += p * qkv[v + d];
        }
        const o = (b * tokens + i) * channels + h * headDim;
        for (let d = 0; d < headDim; d++) out[o + d] = acc[d] / sum;
      }
    }
  }
  return out;
}

/** Attention over keys j with |i − j| ≤ window (Infinity: full attention) → [B, N, H·D]. */
export function referenceAttention(
  qkv: Float32Array,
  batch: number,
  tokens: number,
  heads: number,
  headDim: number,
  window = Infinity,
): Float32Array {
  const scale = 1 / Math.sqrt(headDim);
  return referencePackedAttention(
    qkv,
    batch,
    tokens,
    heads,
    headDim,
    (dot) => dot * scale,
    (i) => [Math.max(0, i - window), Math.min(tokens - 1, i + window)],
  );
}

/** Packs per-head q, k, v [B, H, N, D] into the fused-projection layout [B, N, 3·H·D]. */
export function packQkv(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  batch: number,
  heads: number,
  tokens: number,
  headDim: number,
): Float32Array {
  const channels = heads * headDim;
  const out = new Float32Array(batch * tokens * 3 * channels);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let n = 0; n < tokens; n++) {
        const src = ((b * heads + h) * tokens + n) * headDim;
        const dst = (b * tokens + n) * 3 * channels + h * headDim;
        out.set(q.subarray(src, src + headDim), dst);
        out.set(k.subarray(src, src + headDim), dst + channels);
        out.set(v.subarray(src, src + headDim), dst + 2 * channels);
      }
    }
  }
  return out;
}

/** [B, H, N, D] → [B, N, H·D], the attention output layout. */
export function mergeHeads(
  x: Float32Array,
  batch: number,
  heads: number,
  tokens: number,
  headDim: number,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let n = 0; n < tokens; n++) {
        const src = ((b * heads + h) * tokens + n) * headDim;
        out.set(x.subarray(src, src + headDim), (b * tokens + n) * heads * headDim + h * headDim);
      }
    }
  }
  return out;
}

/**
 * Cross-attention in float64: q [B, N, H·D] over kv [B, L, 2·H·D] (k, then v), with an optional
 * [B, L] mask turned into the score bias (1 − m)·(−10000).
 */
export function referenceCrossAttention(
  q: Float32Array,
  kv: Float32Array,
  mask: Float32Array | null,
  batch: number,
  queries: number,
  keys: number,
  heads: number,
  headDim: number,
): Float32Array {
  const channels = heads * headDim;
  const out = new Float32Array(batch * queries * channels);
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(keys);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        const qRow = (b * queries + i) * channels + h * headDim;
        let max = -Infinity;
        for (let j = 0; j < keys; j++) {
          const kRow = (b * keys + j) * 2 * channels + h * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qRow + d] * kv[kRow + d];
          const bias = mask ? (1 - mask[b * keys + j]) * -10000 : 0;
          scores[j] = s * scale + bias;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        const acc = new Float64Array(headDim);
        for (let j = 0; j < keys; j++) {
          const p = Math.exp(scores[j] - max);
          sum += p;
          const vRow = (b * keys + j) * 2 * channels + channels + h * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += p * kv[vRow + d];
        }
        for (let d = 0; d < headDim; d++) out[qRow + d] = acc[d] / sum;
      }
    }
  }
  return out;
}
