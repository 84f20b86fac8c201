/**
 * Video patch kernels: the Conv3d patch embedding (kernel = stride = (pt, ph, pw)) of a latent
 * video [B, Cin, T, H, W] straight into tokens, with the zero padding at the end of each axis
 * that Open-Sora's PatchEmbed3D applies to sizes the patch does not divide; and the inverse
 * layout change, cropped back to the unpadded size.
 */

import { laneType, mapKernel } from "./elementwise.ts";

export interface VideoPatchShape {
  batch: number;
  /** Channels of the video (Cin for the embedding, Cout for unpatchify). */
  channels: number;
  /** Unpadded extents. */
  frames: number;
  height: number;
  width: number;
  patch: readonly [number, number, number];
}

/** Token grid (frames, rows, columns) after padding to whole patches. */
export function tokenGrid(shape: VideoPatchShape): [number, number, number] {
  const [pt, ph, pw] = shape.patch;
  return [
    Math.ceil(shape.frames / pt),
    Math.ceil(shape.height / ph),
    Math.ceil(shape.width / pw),
  ];
}

/**
 * out[b, n, c] = bias[c] + Σ w[c, ci, dt, dh, dw] · x[b, ci, t·pt + dt, h·ph + dh, w·pw + dw]
 * over taps inside the video (the padding contributes zeros), n = (t·H' + h)·W' + w. One lane
 * is `width` consecutive output channels of one token.
 */
export function patchEmbed3dWgsl(
  shape: VideoPatchShape,
  outChannels: number,
  width: number,
  rowInvocations: number,
): string {
  const { batch, channels, frames, height } = shape;
  const [pt, ph, pw] = shape.patch;
  const [gt, gh, gw] = tokenGrid(shape);
  const tokens = gt * gh * gw;
  const lanes = outChannels / width;
  const taps = channels * pt * ph * pw;
  const t = laneType(width);
  const weightOf = (q: number) => `weight[(c0 + ${q}u) * ${taps}u + tap]`;
  const weights = width === 4 ? `vec4<f32>(${[0, 1, 2, 3].map(weightOf).join(", ")})` : weightOf(0);
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<${t}>;
@group(0) @binding(3) var<storage, read_write> out: array<${t}>;`,
    batch * tokens * lanes,
    rowInvocations,
    `    let lane = i % ${lanes}u;
    let token = (i / ${lanes}u) % ${tokens}u;
    let b = i / ${tokens * lanes}u;
    let c0 = lane * ${width}u;
    let t0 = (token / ${gh * gw}u) * ${pt}u;
    let h0 = ((token / ${gw}u) % ${gh}u) * ${ph}u;
    let w0 = (token % ${gw}u) * ${pw}u;
    var acc = bias[lane];
    for (var ci = 0u; ci < ${channels}u; ci++) {
      for (var dt = 0u; dt < ${pt}u; dt++) {
        for (var dh = 0u; dh < ${ph}u; dh++) {
          for (var dw = 0u; dw < ${pw}u; dw++) {
            let tt = t0 + dt;
            let hh = h0 + dh;
            let ww = w0 + dw;
            if (tt < ${frames}u && hh < ${height}u && ww < ${shape.width}u) {
              let tap = ((ci * ${pt}u + dt) * ${ph}u + dh) * ${pw}u + dw;
              let v = x[(((b * ${channels}u + ci) * ${frames}u + tt) * ${height}u + hh) * ${shape.width}u + ww];
              acc += v * ${weights};
            }
          }
        }
      }
    }
    out[i] = acc;`,
  );
}

/**
 * Tokens [B, N, pt·ph·pw·C] back to a video [B, C, T, H, W] of the unpadded size: the token
 * vector index is ((dt·ph + dh)·pw + dw)·C + c (Open-Sora's "(T_p H_p W_p C_out)").
 */
export function unpatchify3dWgsl(shape: VideoPatchShape, rowInvocations: number): string {
  const { batch, channels, frames, height, width } = shape;
  const [pt, ph, pw] = shape.patch;
  const [gt, gh, gw] = tokenGrid(shape);
  const tokenWidth = pt * ph * pw * channels;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    batch * channels * frames * height * width,
    rowInvocations,
    `    let w = i % ${width}u;
    let h = (i / ${width}u) % ${height}u;
    let t = (i / ${width * height}u) % ${frames}u;
    let c = (i / ${width * height * frames}u) % ${channels}u;
    let b = i / ${width * height * frames * channels}u;
    let token = b * ${gt * gh * gw}u + ((t / ${pt}u) * ${gh}u + h / ${ph}u) * ${gw}u + w / ${pw}u;
    let offset = (((t % ${pt}u) * ${ph}u + h % ${ph}u) * ${pw}u + w % ${pw}u) * ${channels}u + c;
    out[i] = x[token * ${tokenWidth}u + offset];`,
  );
}
