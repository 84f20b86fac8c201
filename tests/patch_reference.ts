/**
 * CPU loops for the patch kernels, written from PyTorch/Open-Sora semantics rather than the
 * kernels' index formulas: a strided Conv3d after end padding, and its inverse rearrange. The
 * 2D image patches are the same with one frame and a temporal patch of 1.
 */

export type Patch = [number, number, number];

/** The padded video as F.pad would make it, then a strided Conv3d, flattened (B, T H W, C). */
export function patchEmbed3dCpu(
  x: Float32Array,
  [batch, cin, frames, height, width]: number[],
  weight: Float32Array,
  bias: Float32Array,
  [pt, ph, pw]: Patch,
): Float64Array {
  const gt = Math.ceil(frames / pt), gh = Math.ceil(height / ph), gw = Math.ceil(width / pw);
  const padded = (b: number, c: number, t: number, h: number, w: number) =>
    t < frames && h < height && w < width
      ? x[(((b * cin + c) * frames + t) * height + h) * width + w]
      : 0;
  const cout = bias.length;
  const out = new Float64Array(batch * gt * gh * gw * cout);
  let i = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < gt; t++) {
      for (let h = 0; h < gh; h++) {
        for (let w = 0; w < gw; w++) {
          for (let co = 0; co < cout; co++) {
            let acc = bias[co];
            for (let c = 0; c < cin; c++) {
              for (let dt = 0; dt < pt; dt++) {
                for (let dh = 0; dh < ph; dh++) {
                  for (let dw = 0; dw < pw; dw++) {
                    const tap = (((co * cin + c) * pt + dt) * ph + dh) * pw + dw;
                    acc += weight[tap] * padded(b, c, t * pt + dt, h * ph + dh, w * pw + dw);
                  }
                }
              }
            }
            out[i++] = acc;
          }
        }
      }
    }
  }
  return out;
}

/** Open-Sora's rearrange "B (Nt Nh Nw) (Tp Hp Wp C) -> B C (Nt Tp) (Nh Hp) (Nw Wp)", then crop. */
export function unpatchify3dCpu(
  x: Float32Array,
  batch: number,
  channels: number,
  [pt, ph, pw]: Patch,
  [frames, height, width]: number[],
): Float32Array {
  const gt = Math.ceil(frames / pt), gh = Math.ceil(height / ph), gw = Math.ceil(width / pw);
  const full = [gt * pt, gh * ph, gw * pw];
  const video = new Float32Array(batch * channels * full[0] * full[1] * full[2]);
  let i = 0;
  for (let b = 0; b < batch; b++) {
    for (let nt = 0; nt < gt; nt++) {
      for (let nh = 0; nh < gh; nh++) {
        for (let nw = 0; nw < gw; nw++) {
          for (let dt = 0; dt < pt; dt++) {
            for (let dh = 0; dh < ph; dh++) {
              for (let dw = 0; dw < pw; dw++) {
                for (let c = 0; c < channels; c++) {
                  const t = nt * pt + dt, h = nh * ph + dh, w = nw * pw + dw;
                  video[(((b * channels + c) * full[0] + t) * full[1] + h) * full[2] + w] = x[i++];
                }
              }
            }
          }
        }
      }
    }
  }
  const out = new Float32Array(batch * channels * frames * height * width);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      for (let t = 0; t < frames; t++) {
        for (let h = 0; h < height; h++) {
          for (let w = 0; w < width; w++) {
            out[o++] = video[(((b * channels + c) * full[0] + t) * full[1] + h) * full[2] + w];
          }
        }
      }
    }
  }
  return out;
}
