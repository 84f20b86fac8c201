/**
 * CPU loops for the patch kernels, written from PyTorch/Open-Sora semantics rather than the
 * kernels' index formulas: a strided Conv3d after end padding, and its inverse rearrange. The
 * 2D image patches are the same with one frame and a temporal patch of 1.
 */

export type Patch = [number, number, number];

/**
 * Calls `visit` with every index of an array of `shape`, in row-major order (last axis fastest),
 * so each reference below names its loop axes in the order PyTorch lays them out. The index
 * array is reused between calls.
 */
function forEachIndex(shape: readonly number[], visit: (index: readonly number[]) => void): void {
  if (shape.some((extent) => extent === 0)) return;
  const index = shape.map(() => 0);
  for (;;) {
    visit(index);
    let axis = shape.length - 1;
    while (axis >= 0 && ++index[axis] === shape[axis]) index[axis--] = 0;
    if (axis < 0) return;
  }
}

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
  forEachIndex([batch, gt, gh, gw, cout], ([b, t, h, w, co]) => {
    let acc = bias[co];
    forEachIndex([cin, pt, ph, pw], ([c, dt, dh, dw]) => {
      const tap = (((co * cin + c) * pt + dt) * ph + dh) * pw + dw;
      acc += weight[tap] * padded(b, c, t * pt + dt, h * ph + dh, w * pw + dw);
    });
    out[i++] = acc;
  });
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
  const at = (b: number, c: number, t: number, h: number, w: number) =>
    (((b * channels + c) * full[0] + t) * full[1] + h) * full[2] + w;
  const video = new Float32Array(batch * channels * full[0] * full[1] * full[2]);
  let i = 0;
  forEachIndex([batch, gt, gh, gw, pt, ph, pw, channels], ([b, nt, nh, nw, dt, dh, dw, c]) => {
    video[at(b, c, nt * pt + dt, nh * ph + dh, nw * pw + dw)] = x[i++];
  });
  const out = new Float32Array(batch * channels * frames * height * width);
  let o = 0;
  forEachIndex([batch, channels, frames, height, width], ([b, c, t, h, w]) => {
    out[o++] = video[at(b, c, t, h, w)];
  });
  return out;
}
