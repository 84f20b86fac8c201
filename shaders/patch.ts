/**
 * Patch kernels: the patch-embedding convolution (kernel = stride = p) straight into token
 * order, and its inverse layout change (unpatchify).
 */

import { flatIndex } from "./common.ts";
import { ELEMENTWISE_WORKGROUP_SIZE, laneType, mapKernel } from "./elementwise.ts";

export interface PatchEmbedShape {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  patch: number;
}

/** Tokens and channel lanes one patch-embed invocation computes (a register tile). */
export const PATCH_TOKENS_PER_INVOCATION = 4;

/** Channel lanes per invocation: 2 when they divide the lanes evenly, else 1. */
export function patchLanesPerInvocation(channelLanes: number): number {
  return channelLanes % 2 === 0 ? 2 : 1;
}

/** Invocations a patch embed needs. */
export function patchEmbedInvocations(shape: PatchEmbedShape, width: number): number {
  const tokens = (shape.height / shape.patch) * (shape.width / shape.patch);
  const channelLanes = shape.outChannels / width;
  return shape.batch * Math.ceil(tokens / PATCH_TOKENS_PER_INVOCATION) *
    (channelLanes / patchLanesPerInvocation(channelLanes));
}

/**
 * out[b, n, c] = bias[c] + Σ_{ci, pr, pc} w[c, ci, pr, pc] · x[b, ci, row·p + pr, col·p + pc]
 * with n = row·(W/p) + col. Each invocation owns a tile of 4 tokens × 2 channel lanes: one
 * output per pair of loads ran 4× slower on lavapipe, where every load is a bounds-checked
 * gather, than this reuse of each pixel and weight across the tile.
 */
export function patchEmbedWgsl(
  shape: PatchEmbedShape,
  width: number,
  rowInvocations: number,
): string {
  const { batch, inChannels, height, outChannels, patch } = shape;
  const t = laneType(width);
  const gridW = shape.width / patch;
  const tokens = (height / patch) * gridW;
  const taps = inChannels * patch * patch;
  const channelLanes = outChannels / width;
  const lanesPer = patchLanesPerInvocation(channelLanes);
  const tokensPer = PATCH_TOKENS_PER_INVOCATION;
  const laneGroups = channelLanes / lanesPer;
  const tokenBlocks = Math.ceil(tokens / tokensPer);
  const weightOf = (q: number) => `weight[(c + ${q}u) * ${taps}u + tap]`;
  const weights = width === 4 ? `vec4<f32>(${[0, 1, 2, 3].map(weightOf).join(", ")})` : weightOf(0);
  return `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<${t}>;
@group(0) @binding(3) var<storage, read_write> out: array<${t}>;
@compute @workgroup_size(${ELEMENTWISE_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = ${flatIndex(rowInvocations)};
  if (i >= ${batch * tokenBlocks * laneGroups}u) { return; }
  let lane0 = (i % ${laneGroups}u) * ${lanesPer}u;
  let block = (i / ${laneGroups}u) % ${tokenBlocks}u;
  let b = i / ${laneGroups * tokenBlocks}u;
  var pixel: array<u32, ${tokensPer}>;
  var acc: array<array<${t}, ${lanesPer}>, ${tokensPer}>;
  for (var k = 0u; k < ${tokensPer}u; k++) {
    // Tokens past the end repeat the last one; their results are not stored.
    let token = min(block * ${tokensPer}u + k, ${tokens - 1}u);
    pixel[k] = (b * ${inChannels * height}u + (token / ${gridW}u) * ${patch}u) * ${shape.width}u +
      (token % ${gridW}u) * ${patch}u;
    for (var q = 0u; q < ${lanesPer}u; q++) { acc[k][q] = bias[lane0 + q]; }
  }
  for (var ci = 0u; ci < ${inChannels}u; ci++) {
    for (var pr = 0u; pr < ${patch}u; pr++) {
      for (var pc = 0u; pc < ${patch}u; pc++) {
        let tap = (ci * ${patch}u + pr) * ${patch}u + pc;
        let offset = (ci * ${height}u + pr) * ${shape.width}u + pc;
        var w: array<${t}, ${lanesPer}>;
        for (var q = 0u; q < ${lanesPer}u; q++) {
          let c = (lane0 + q) * ${width}u;
          w[q] = ${weights};
        }
        for (var k = 0u; k < ${tokensPer}u; k++) {
          let v = x[pixel[k] + offset];
          for (var q = 0u; q < ${lanesPer}u; q++) { acc[k][q] += v * w[q]; }
        }
      }
    }
  }
  for (var k = 0u; k < ${tokensPer}u; k++) {
    let token = block * ${tokensPer}u + k;
    if (token < ${tokens}u) {
      for (var q = 0u; q < ${lanesPer}u; q++) {
        out[(b * ${tokens}u + token) * ${channelLanes}u + lane0 + q] = acc[k][q];
      }
    }
  }
}`;
}

/**
 * out[b, c, h·p + pr, w·p + pc] = x[b, h·W + w, (pr·p + pc)·C + c]: diffusers' DiT layout,
 * reshape(B, h, w, p, p, C) then einsum nhwpqc → nchpwq.
 */
export function unpatchifyWgsl(
  batch: number,
  outChannels: number,
  patch: number,
  gridH: number,
  gridW: number,
  rowInvocations: number,
): string {
  const outW = gridW * patch;
  const plane = gridH * patch * outW;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    batch * outChannels * plane,
    rowInvocations,
    `    let xx = i % ${outW}u;
    let y = (i / ${outW}u) % ${gridH * patch}u;
    let c = (i / ${plane}u) % ${outChannels}u;
    let b = i / ${outChannels * plane}u;
    let token = b * ${gridH * gridW}u + (y / ${patch}u) * ${gridW}u + xx / ${patch}u;
    let offset = ((y % ${patch}u) * ${patch}u + xx % ${patch}u) * ${outChannels}u + c;
    out[i] = x[token * ${patch * patch * outChannels}u + offset];`,
  );
}
