/** Kernels for the sampling loop: classifier-free guidance, scheduler updates. */

import { f32Literal, flatIndex } from "./common.ts";

/** Invocations per workgroup of the sampler kernels (one element each). */
export const SAMPLER_WORKGROUP_SIZE = 64;

/** A kernel with one invocation per element i < `size`; `body` sees `i`. */
function perElementKernel(
  bindings: string,
  size: number,
  rowInvocations: number,
  body: string,
): string {
  return `
${bindings}
@compute @workgroup_size(${SAMPLER_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = ${flatIndex(rowInvocations)};
  if (i >= ${size}u) { return; }
${body}
}`;
}

/** Pixel p, channel c and sample b of element i of a [B, channels, plane] tensor. */
function sampleChannelPixel(plane: number, channels: number): string {
  return `  let p = i % ${plane}u;
  let c = (i / ${plane}u) % ${channels}u;
  let b = i / ${plane * channels}u;`;
}

/**
 * out[i] = Σ_k coef[k] · term_k[i]. The coefficients live in a small storage buffer so each
 * step's new values need no new pipeline.
 */
export function linearCombinationWgsl(terms: number, size: number, rowInvocations: number): string {
  const decls = Array.from(
    { length: terms },
    (_, k) => `@group(0) @binding(${k + 1}) var<storage, read> term${k}: array<f32>;`,
  ).join("\n");
  const sum = Array.from({ length: terms }, (_, k) => `coef[${k}] * term${k}[i]`).join(" + ");
  return perElementKernel(
    `@group(0) @binding(0) var<storage, read> coef: array<f32>;
${decls}
@group(0) @binding(${terms + 1}) var<storage, read_write> out: array<f32>;`,
    size,
    rowInvocations,
    `  out[i] = ${sum};`,
  );
}

export interface GuidanceShape {
  /** Samples in one half of the model batch. */
  half: number;
  /** Channels of the model output per sample (ε and, with learned sigma, variance). */
  outChannels: number;
  /** ε channels kept in the guided result. */
  epsChannels: number;
  /** The first `guidedChannels` ε channels are guided; the rest keep the conditional value. */
  guidedChannels: number;
  /** Pixels (or tokens) per channel. */
  plane: number;
}

/**
 * guided[b, c] = u + s·(cond − u) for c < guidedChannels, cond for the other ε channels;
 * the model batch is [cond; uncond] (conditional half first).
 */
export function guidanceWgsl(shape: GuidanceShape, scale: number, rowInvocations: number): string {
  const { half, outChannels, epsChannels, guidedChannels, plane } = shape;
  const size = half * epsChannels * plane;
  return perElementKernel(
    `@group(0) @binding(0) var<storage, read> modelOut: array<f32>;
@group(0) @binding(1) var<storage, read_write> guided: array<f32>;`,
    size,
    rowInvocations,
    `${sampleChannelPixel(plane, epsChannels)}
  let condIndex = (b * ${outChannels}u + c) * ${plane}u + p;
  let cond = modelOut[condIndex];
  if (c >= ${guidedChannels}u) { guided[i] = cond; return; }
  let uncond = modelOut[condIndex + ${half * outChannels * plane}u];
  guided[i] = uncond + ${f32Literal(scale)} * (cond - uncond);`,
  );
}

/**
 * One ancestral step of the original DiT DDPM sampler with learned-range variance:
 * x0 = a·x − b·ε; mean = c1·x0 + c2·x; log σ² = f·log β + (1 − f)·log β̃ with f = (v + 1)/2;
 * x ← mean + noiseScale·exp(½ log σ²)·z. coef = [a, b, c1, c2, log β, log β̃, noiseScale].
 * `v` is read from the conditional half of the raw model output (its variance channels).
 */
export function ddpmStepWgsl(
  shape: { samples: number; channels: number; outChannels: number; plane: number },
  rowInvocations: number,
): string {
  const { samples, channels, outChannels, plane } = shape;
  const size = samples * channels * plane;
  return perElementKernel(
    `@group(0) @binding(0) var<storage, read> coef: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> eps: array<f32>;
@group(0) @binding(3) var<storage, read> modelOut: array<f32>;
@group(0) @binding(4) var<storage, read> noise: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;`,
    size,
    rowInvocations,
    `${sampleChannelPixel(plane, channels)}
  let v = modelOut[(b * ${outChannels}u + ${channels}u + c) * ${plane}u + p];
  let x0 = coef[0] * x[i] - coef[1] * eps[i];
  let mean = coef[2] * x0 + coef[3] * x[i];
  let frac = (v + 1.0) * 0.5;
  let logVariance = frac * coef[4] + (1.0 - frac) * coef[5];
  out[i] = mean + coef[6] * exp(0.5 * logVariance) * noise[i];`,
  );
}
