/** Plain-TypeScript float64 references for the VAE kernels (conv, group norm, upsample). */

/** NCHW conv, stride 1, zero padding (k − 1)/2; weight [Cout, Cin, k, k]. */
export function referenceConv2d(
  x: ArrayLike<number>,
  shape: { batch: number; inChannels: number; height: number; width: number },
  weight: ArrayLike<number>,
  outChannels: number,
  kernelSize: number,
  bias?: ArrayLike<number>,
): Float64Array {
  const { batch, inChannels: cin, height: h, width: w } = shape;
  const p = (kernelSize - 1) / 2;
  const out = new Float64Array(batch * outChannels * h * w);
  for (let b = 0; b < batch; b++) {
    for (let co = 0; co < outChannels; co++) {
      const plane = out.subarray(
        (b * outChannels + co) * h * w,
        (b * outChannels + co + 1) * h * w,
      );
      plane.fill(bias ? bias[co] : 0);
      for (let ci = 0; ci < cin; ci++) {
        const xBase = (b * cin + ci) * h * w;
        for (let ky = 0; ky < kernelSize; ky++) {
          for (let kx = 0; kx < kernelSize; kx++) {
            const wv = weight[((co * cin + ci) * kernelSize + ky) * kernelSize + kx];
            for (let y = 0; y < h; y++) {
              const sy = y + ky - p;
              if (sy < 0 || sy >= h) continue;
              for (let xx = 0; xx < w; xx++) {
                const sx = xx + kx - p;
                if (sx < 0 || sx >= w) continue;
                plane[y * w + xx] += wv * x[xBase + sy * w + sx];
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** x · sigmoid(x). */
export function referenceSilu(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** Group norm over [B, C, plane] with per-channel affine and optional SiLU. */
export function referenceGroupNorm(
  x: ArrayLike<number>,
  batch: number,
  channels: number,
  plane: number,
  groups: number,
  eps: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  silu = false,
): Float64Array {
  const out = new Float64Array(batch * channels * plane);
  const perGroup = channels / groups;
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < groups; g++) {
      const start = (b * channels + g * perGroup) * plane;
      const count = perGroup * plane;
      let mean = 0;
      for (let i = 0; i < count; i++) mean += x[start + i];
      mean /= count;
      let variance = 0;
      for (let i = 0; i < count; i++) variance += (x[start + i] - mean) ** 2;
      variance /= count;
      const rstd = 1 / Math.sqrt(variance + eps);
      for (let i = 0; i < count; i++) {
        const c = g * perGroup + Math.floor(i / plane);
        const v = (x[start + i] - mean) * rstd * gamma[c] + beta[c];
        out[start + i] = silu ? referenceSilu(v) : v;
      }
    }
  }
  return out;
}

/** Nearest-neighbour ×2 upsample of [planes, H, W]. */
export function referenceUpsample2x(
  x: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
): Float64Array {
  const out = new Float64Array(planes * 4 * height * width);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < 2 * height; y++) {
      for (let xx = 0; xx < 2 * width; xx++) {
        out[(p * 2 * height + y) * 2 * width + xx] = x[(p * height + (y >> 1)) * width + (xx >> 1)];
      }
    }
  }
  return out;
}

/** [B, C, N] → [B, N, C]. */
export function referenceToChannelsLast(
  x: ArrayLike<number>,
  batch: number,
  channels: number,
  plane: number,
): Float64Array {
  const out = new Float64Array(batch * channels * plane);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      for (let n = 0; n < plane; n++) {
        out[(b * plane + n) * channels + c] = x[(b * channels + c) * plane + n];
      }
    }
  }
  return out;
}
