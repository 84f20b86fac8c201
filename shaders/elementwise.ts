/** Elementwise kernels: binary add/mul with broadcasting of the trailing axis, activations. */

import { flatIndex } from "./common.ts";

export type BinaryOp = "add" | "mul";

/**
 * out[i] = a[i] ∘ b[i % bSize]: `b` is either the same size as `a` or broadcast over the
 * leading axes (a bias or a per-channel vector).
 */
export function binaryWgsl(op: BinaryOp, size: number, bSize: number, rowInvocations: number): string {
  const expr = op === "add" ? "a[i] + b[j]" : "a[i] * b[j]";
  const j = bSize === size ? "i" : `i % ${bSize}u`;
  return `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = ${flatIndex(rowInvocations)};
  if (i >= ${size}u) { return; }
  let j = ${j};
  out[i] = ${expr};
}`;
}
