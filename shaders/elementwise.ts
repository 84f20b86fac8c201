/**
 * Elementwise kernels: binary add/mul with broadcasting of the trailing axis, activations,
 * scaling, and the gated residual add of a DiT block.
 *
 * All of them are memory-bound. On lavapipe two things matter (measured at 2.4M elements):
 * vec4 loads (2.5× over scalar) and a few contiguous vectors per invocation (another ~1.3×), so
 * every kernel here walks `VECTORS_PER_INVOCATION` consecutive vec4s when the sizes allow it
 * and falls back to scalars otherwise.
 */

import { f32Literal, flatIndex } from "./common.ts";

export const ELEMENTWISE_WORKGROUP_SIZE = 64;
export const VECTORS_PER_INVOCATION = 8;

export type BinaryOp = "add" | "mul";
export type UnaryOp =
  | { kind: "gelu_tanh" }
  | { kind: "silu" }
  | { kind: "scale"; factor: number };

/** Lane width (4 or 1) a kernel over `sizes` can use: every size must be a multiple of 4. */
export function laneWidth(...sizes: number[]): 1 | 4 {
  return sizes.every((s) => s % 4 === 0) ? 4 : 1;
}

/** Number of invocations a map over `size` elements in `width`-wide lanes needs. */
export function mapInvocations(size: number, width: number): number {
  return Math.ceil(size / width / VECTORS_PER_INVOCATION);
}

/**
 * The shared skeleton: invocation k handles lane indices [k·V, (k+1)·V) of `count` lanes;
 * `body` sees `i` (lane index) and writes `out[i]`.
 */
export function mapKernel(
  bindings: string,
  count: number,
  rowInvocations: number,
  body: string,
): string {
  return `${bindings}
@compute @workgroup_size(${ELEMENTWISE_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let first = ${flatIndex(rowInvocations)} * ${VECTORS_PER_INVOCATION}u;
  for (var k = 0u; k < ${VECTORS_PER_INVOCATION}u; k++) {
    let i = first + k;
    if (i >= ${count}u) { return; }
${body}
  }
}`;
}

/** WGSL type of one lane: `vec4<f32>` or `f32`. */
export function laneType(width: number): string {
  return width === 4 ? "vec4<f32>" : "f32";
}

/**
 * out[i] = a[i] ∘ b[i % bSize]: `b` is either the same size as `a` or broadcast over the
 * leading axes (a bias or a per-channel vector).
 */
export function binaryWgsl(
  op: BinaryOp,
  size: number,
  bSize: number,
  rowInvocations: number,
): string {
  const width = laneWidth(size, bSize);
  const t = laneType(width);
  const count = size / width;
  const bCount = bSize / width;
  const j = bSize === size ? "i" : `i % ${bCount}u`;
  const expr = op === "add" ? `a[i] + b[${j}]` : `a[i] * b[${j}]`;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> a: array<${t}>;
@group(0) @binding(1) var<storage, read> b: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;`,
    count,
    rowInvocations,
    `    out[i] = ${expr};`,
  );
}

function unaryExpression(op: UnaryOp, t: string): string {
  switch (op.kind) {
    // 0.5·(1 + tanh(u)) = 1 / (1 + exp(−2u)): the same function without tanh, whose
    // exp-ratio lowering returns NaN for large |u| on some drivers; here exp overflows to +inf
    // and x / inf gives the correct signed zero.
    case "gelu_tanh":
      return `v / (${t}(1.0) + exp(${t}(-1.5957691216057308) * (v + ${t}(0.044715) * v * v * v)))`;
    case "silu":
      return `v / (${t}(1.0) + exp(-v))`;
    case "scale":
      return `v * ${f32Literal(Math.fround(op.factor))}`;
  }
}

/**
 * out[i] = f(x[i]) for an activation or a constant factor. The factor is baked into the WGSL:
 * a model uses a handful of distinct factors, each compiled once.
 */
export function unaryWgsl(op: UnaryOp, size: number, rowInvocations: number): string {
  const width = laneWidth(size);
  const t = laneType(width);
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;`,
    size / width,
    rowInvocations,
    `    let v = x[i];
    out[i] = ${unaryExpression(op, t)};`,
  );
}

/**
 * out[i] = gelu_tanh(gate[i]) · up[i] (T5's gated-GELU feed-forward, `gelu_new(wi_0 x) · wi_1 x`),
 * with the same GELU expression as `unaryWgsl`.
 */
export function geluTanhMulWgsl(size: number, rowInvocations: number): string {
  const width = laneWidth(size);
  const t = laneType(width);
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> gate: array<${t}>;
@group(0) @binding(1) var<storage, read> up: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;`,
    size / width,
    rowInvocations,
    `    let v = gate[i];
    out[i] = (${unaryExpression({ kind: "gelu_tanh" }, t)}) * up[i];`,
  );
}

/** Where a per-sample, per-channel vector sits inside a chunked adaLN output `[B, K·C]`. */
export interface ChunkLayout {
  /** Rows (tokens) per sample: row r belongs to sample ⌊r / tokens⌋. */
  tokens: number;
  channels: number;
  /** Elements per sample in the adaLN output (K·C). */
  sampleStride: number;
}

/**
 * WGSL expression for the lane index of chunk `chunk` in the adaLN output, for the lane `i`
 * of a `[B, N, C]` tensor (`width` divides C, so lanes never straddle a channel row).
 */
export function chunkIndex(layout: ChunkLayout, chunk: number, width: number): string {
  const channelLanes = layout.channels / width;
  const sampleLanes = layout.tokens * channelLanes;
  const strideLanes = layout.sampleStride / width;
  return `(i / ${sampleLanes}u) * ${strideLanes}u + ${
    chunk * channelLanes
  }u + i % ${channelLanes}u`;
}

/** out = h + gate ⊙ y with gate = mod[b, gateChunk·C : +C] broadcast over the tokens. */
export function gatedResidualWgsl(
  layout: ChunkLayout,
  gateChunk: number,
  batch: number,
  rowInvocations: number,
): string {
  const width = laneWidth(layout.channels);
  const t = laneType(width);
  const count = (batch * layout.tokens * layout.channels) / width;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> h: array<${t}>;
@group(0) @binding(1) var<storage, read> y: array<${t}>;
@group(0) @binding(2) var<storage, read> modulation: array<${t}>;
@group(0) @binding(3) var<storage, read_write> out: array<${t}>;`,
    count,
    rowInvocations,
    `    out[i] = h[i] + modulation[${chunkIndex(layout, gateChunk, width)}] * y[i];`,
  );
}
