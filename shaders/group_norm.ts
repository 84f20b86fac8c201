/**
 * Group norm over NCHW tensors: statistics per (sample, group) of C/G contiguous channel planes,
 * then (x − mean)/√(var + eps) · γ[c] + β[c], optionally followed by SiLU.
 *
 * A group holds up to millions of values (SD-VAE: 4 channels × 512²), so the statistics are a
 * two-level reduction with no barriers: every invocation runs Welford's update over one chunk of
 * a group (the vec4 components as four interleaved streams, merged with Chan's formula, as in
 * shaders/norm.ts), and a second kernel merges a group's chunk partials the same way. Each chunk
 * works on x − x[chunk start], so its running mean is of the spread's size and f32 keeps the
 * digits even when a group's mean is large next to its spread.
 */

import { f32Literal } from "./common.ts";
import { laneType, mapKernel } from "./elementwise.ts";

/** Values per statistics chunk: long enough to amortise the merge, short enough for parallelism. */
export const GROUP_NORM_CHUNK = 2048;
export const GROUP_NORM_WORKGROUP = 64;

/** Where one partial-statistics dispatch reads. */
export interface GroupStatsShape {
  /** Values per group (C/G · plane). */
  groupSize: number;
  /** Groups in the bound slab; their partials go to [groupBase·chunks, …). */
  groups: number;
  groupBase: number;
}

/** Chunks per group. */
export function chunksPerGroup(groupSize: number): number {
  return Math.ceil(groupSize / GROUP_NORM_CHUNK);
}

/** Chan's merge of (mean, M2, count) `b` into `a`. */
const MERGE_FUNCTION = `
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.z + b.z;
  let delta = b.x - a.x;
  let share = b.z / n;
  return vec3<f32>(a.x + delta * share, a.y + b.y + delta * delta * a.z * share, n);
}`;

/**
 * Bindings: 0 x slab, 1 partials [all groups · chunks] of vec4 (mean, M2, count, unused).
 * One invocation per chunk of `GROUP_NORM_CHUNK` values; grid x = invocations / 64, y spills.
 */
export function groupStatsWgsl(shape: GroupStatsShape, rowInvocations: number): string {
  const { groupSize } = shape;
  const chunks = chunksPerGroup(groupSize);
  const width = groupSize % 4 === 0 ? 4 : 1;
  const lanesPerChunk = GROUP_NORM_CHUNK / width;
  const groupLanes = groupSize / width;
  const t = laneType(width);
  const merge = width === 4
    ? `var total = vec3<f32>(means.x, m2.x, count);
  total = merge(total, vec3<f32>(means.y, m2.y, count));
  total = merge(total, vec3<f32>(means.z, m2.z, count));
  total = merge(total, vec3<f32>(means.w, m2.w, count));`
    : `let total = vec3<f32>(means, m2, count);`;
  return `${MERGE_FUNCTION}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> partials: array<vec4<f32>>;
@compute @workgroup_size(${GROUP_NORM_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = gid.x + gid.y * ${rowInvocations}u;
  if (index >= ${shape.groups * chunks}u) { return; }
  let group = index / ${chunks}u;
  let chunk = index % ${chunks}u;
  let start = group * ${groupLanes}u + chunk * ${lanesPerChunk}u;
  let end = min(start + ${lanesPerChunk}u, (group + 1u) * ${groupLanes}u);
  let pivot = ${width === 4 ? "x[start].x" : "x[start]"};
  var means = ${t}(0.0);
  var m2 = ${t}(0.0);
  for (var i = start; i < end; i++) {
    let v = x[i] - pivot;
    let delta = v - means;
    means += delta * (1.0 / f32(i - start + 1u));
    m2 += delta * (v - means);
  }
  let count = f32(end - start);
  ${merge}
  partials[${
    shape.groupBase * chunks
  }u + index] = vec4<f32>(total.x + pivot, total.y, total.z, 0.0);
}`;
}

/**
 * Bindings: 0 partials, 1 stats [groups] of vec2 (mean, 1/√(var + eps)). One invocation per
 * (sample, group).
 */
export function groupStatsMergeWgsl(totalGroups: number, groupSize: number, eps: number): string {
  const chunks = chunksPerGroup(groupSize);
  return `${MERGE_FUNCTION}
@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>;
@compute @workgroup_size(${GROUP_NORM_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let group = gid.x;
  if (group >= ${totalGroups}u) { return; }
  let first = partials[group * ${chunks}u];
  // Chunk means are merged relative to the first one, again to keep the offset out of the sums.
  var total = vec3<f32>(0.0, first.y, first.z);
  for (var c = 1u; c < ${chunks}u; c++) {
    let p = partials[group * ${chunks}u + c];
    total = merge(total, vec3<f32>(p.x - first.x, p.y, p.z));
  }
  let variance = total.y / ${f32Literal(groupSize)};
  stats[group] = vec2<f32>(first.x + total.x, inverseSqrt(variance + ${
    f32Literal(Math.fround(eps))
  }));
}`;
}

/** Shape of one apply dispatch (a slab of samples × channels). */
export interface GroupNormApplyShape {
  /** Channels of the whole tensor and of the slab. */
  channels: number;
  slabChannels: number;
  channelBase: number;
  sampleBase: number;
  samples: number;
  plane: number;
  groups: number;
  silu: boolean;
  /** "tokens": write [B, plane, C] (channels-last) instead of NCHW. */
  output: "nchw" | "tokens";
}

/**
 * Bindings: 0 x slab, 1 stats [B·G] vec2, 2 γ [C], 3 β [C], 4 output slab. vec4 lanes when the
 * plane is a multiple of 4 (then a vec4 never straddles two channels) and the output is NCHW.
 */
export function groupNormApplyWgsl(
  shape: GroupNormApplyShape,
  width: 1 | 4,
  rowInvocations: number,
): string {
  const { plane, slabChannels, channels, groups } = shape;
  const t = laneType(width);
  const count = (shape.samples * slabChannels * plane) / width;
  const planeLanes = plane / width;
  const perGroup = channels / groups;
  const store = shape.output === "nchw"
    ? "out[i] = v;"
    : `out[(b * ${plane}u + i % ${plane}u) * ${channels}u + c] = v;`;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<${t}>;`,
    count,
    rowInvocations,
    `    let planeIndex = i / ${planeLanes}u;
    let b = planeIndex / ${slabChannels}u;
    let c = ${shape.channelBase}u + planeIndex % ${slabChannels}u;
    let s = stats[(${shape.sampleBase}u + b) * ${groups}u + c / ${perGroup}u];
    var v = (x[i] - s.x) * (s.y * gamma[c]) + beta[c];
    ${shape.silu ? `v = v / (${t}(1.0) + exp(-v));` : ""}
    ${store}`,
  );
}
