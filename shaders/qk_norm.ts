/**
 * Per-head transforms of q and k inside a packed qkv tensor [rows, 3·H·D], in place: an optional
 * rotary embedding over interleaved pairs (2k, 2k+1), then an optional RMSNorm with a learned
 * weight [D]. v is not touched. One invocation owns one head of q or k of one row and holds it in
 * registers, so each value is read and written once.
 */

import { f32Literal, flatIndex } from "./common.ts";
import { laneType } from "./elementwise.ts";

export const QK_NORM_WORKGROUP_SIZE = 64;

export interface QkNormSpec {
  rows: number;
  heads: number;
  headDim: number;
  /** RMSNorm epsilon; null skips the norm. */
  eps: number | null;
  /**
   * Rotary embedding: row r is at position r % positions, rotated by the tables
   * cos [positions, D] (each pair's cosine twice) and sin [positions, D] (−sin, +sin).
   */
  ropePositions: number | null;
}

/** 4 when a head is whole vec4s, else scalars. */
export function qkNormWidth(headDim: number): 1 | 4 {
  return headDim % 4 === 0 ? 4 : 1;
}

/** Invocations: one per row, q/k and head. */
export function qkNormInvocations(spec: QkNormSpec): number {
  return spec.rows * 2 * spec.heads;
}

export function qkNormWgsl(spec: QkNormSpec, rowInvocations: number): string {
  const { heads, headDim, eps, ropePositions } = spec;
  const width = qkNormWidth(headDim);
  const t = laneType(width);
  const lanes = headDim / width;
  const channelLanes = (heads * headDim) / width;
  // The pair partner of each element: swapped components of a vec4, or the neighbour index.
  const partner = width === 4 ? "v[j].yxwz" : "v[j ^ 1u]";
  const bindings = [
    `@group(0) @binding(0) var<storage, read_write> qkv: array<${t}>;`,
  ];
  if (eps !== null) {
    bindings.push(
      `@group(0) @binding(${bindings.length}) var<storage, read> qWeight: array<${t}>;`,
    );
    bindings.push(
      `@group(0) @binding(${bindings.length}) var<storage, read> kWeight: array<${t}>;`,
    );
  }
  if (ropePositions !== null) {
    bindings.push(
      `@group(0) @binding(${bindings.length}) var<storage, read> ropeCos: array<${t}>;`,
    );
    bindings.push(
      `@group(0) @binding(${bindings.length}) var<storage, read> ropeSin: array<${t}>;`,
    );
  }
  const rope = ropePositions === null ? "" : `
  var rotated: array<${t}, ${lanes}>;
  let table = (row % ${ropePositions}u) * ${lanes}u;
  for (var j = 0u; j < ${lanes}u; j++) {
    rotated[j] = v[j] * ropeCos[table + j] + ${partner} * ropeSin[table + j];
  }
  for (var j = 0u; j < ${lanes}u; j++) { v[j] = rotated[j]; }`;
  const sumSquares = width === 4 ? "dot(v[j], v[j])" : "v[j] * v[j]";
  const norm = eps === null ? "" : `
  var squares = 0.0;
  for (var j = 0u; j < ${lanes}u; j++) { squares += ${sumSquares}; }
  let inverseRms = inverseSqrt(squares * ${f32Literal(1 / headDim)} + ${
    f32Literal(Math.fround(eps))
  });
  for (var j = 0u; j < ${lanes}u; j++) {
    let w = select(kWeight[j], qWeight[j], isQuery);
    v[j] = v[j] * inverseRms * w;
  }`;
  return `${bindings.join("\n")}
@compute @workgroup_size(${QK_NORM_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = ${flatIndex(rowInvocations)};
  if (i >= ${qkNormInvocations(spec)}u) { return; }
  let head = i % ${heads}u;
  let isQuery = (i / ${heads}u) % 2u == 0u;
  let row = i / ${2 * heads}u;
  let base = row * ${3 * channelLanes}u + select(${channelLanes}u, 0u, isQuery) + head * ${lanes}u;
  var v: array<${t}, ${lanes}>;
  for (var j = 0u; j < ${lanes}u; j++) { v[j] = qkv[base + j]; }${rope}${norm}
  for (var j = 0u; j < ${lanes}u; j++) { qkv[base + j] = v[j]; }
}`;
}
