/** Reductions that compare two model outputs (calibration losses). */

import { f32Literal } from "./common.ts";

const WORKGROUP = 256;

/**
 * mean(clip(|a − b| / (max(|a|, |b|) + eps), 0, 10)) over `size` elements, by one workgroup:
 * every invocation sums a strided share, then a tree reduction in workgroup memory. The loss
 * is computed a few hundred times per calibration on a tensor of at most a few million values,
 * so one workgroup is enough and keeps the result in a single pass.
 */
export function clippedRelativeErrorWgsl(size: number, eps: number): string {
  return `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> partial: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < ${size}u; i += ${WORKGROUP}u) {
    let x = a[i];
    let y = b[i];
    let relative = abs(x - y) / (max(abs(x), abs(y)) + ${f32Literal(eps)});
    sum += clamp(relative, 0.0, 10.0);
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = partial[0] / ${f32Literal(size)}; }
}`;
}
