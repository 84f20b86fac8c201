/**
 * Layer norm without affine parameters, optionally fused with the adaLN modulation
 * y·(1 + scale) + shift, and the modulation alone.
 *
 * Statistics avoid E[x²] − E[x]², which loses digits in f32 when a row's mean is large next to
 * its spread (DiT activations late in the network): the `invocation` variant runs Welford's
 * update while reading the row once (one read fewer than two-pass, measured ~1.4× faster), the
 * `workgroup` variant holds its slice in registers and does two passes over them. Both work on
 * x − x[row, 0], so the mean they carry is of the spread's size and rounds at its scale, not at
 * the scale of the row's offset.
 */

import { chunkIndex, type ChunkLayout, laneType, mapKernel } from "./elementwise.ts";
import { f32Literal } from "./common.ts";
import {
  ADD_FUNCTION,
  heldLanesLoop,
  laneTotal,
  rowEntry,
  type RowLayout,
  rowReduceFunction,
} from "./rows.ts";

/** Where shift and scale come from in the chunked adaLN output. */
export interface ModulationSource extends ChunkLayout {
  shiftChunk: number;
  scaleChunk: number;
}

/** y·(1 + scale) + shift, with `index(chunk)` the lane index of that chunk's element. */
function modulateExpression(
  y: string,
  source: ModulationSource,
  width: number,
  index: (chunk: number) => string,
): string {
  const scale = `modulation[${index(source.scaleChunk)}]`;
  const shift = `modulation[${index(source.shiftChunk)}]`;
  return `${y} * (${laneType(width)}(1.0) + ${scale}) + ${shift}`;
}

function normBindings(t: string, modulated: boolean): string {
  return modulated
    ? `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> modulation: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;`
    : `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;`;
}

/**
 * A norm kernel over `layout`'s rows: `invocation` runs `bodies.invocation`; `workgroup` runs
 * `bodies.workgroup`, which has `rowSum` and ends by scaling each held lane by
 * rstd = 1/√(Σ `squares` over the row · `1/C` + eps) and storing it with `store`.
 */
function normKernel(
  layout: RowLayout,
  groupsX: number,
  eps: number,
  header: string,
  bodies: { invocation: string; workgroup: string },
  store: (value: string) => string,
): string {
  if (layout.variant === "invocation") return header + rowEntry(layout, groupsX, bodies.invocation);
  const rowSquares = `rowSum(${laneTotal(layout.width, "squares")}, lid, lane)`;
  return header + ADD_FUNCTION + rowReduceFunction(layout, "rowSum", "add") + rowEntry(
    layout,
    groupsX,
    `  ${bodies.workgroup}
  let rstd = inverseSqrt(${rowSquares} * ${f32Literal(1 / layout.channels)} + ${
      f32Literal(Math.fround(eps))
    });
  if (!live) { return; }
  ${heldLanesLoop(layout, store("cached[k] * rstd"))}`,
  );
}

/**
 * Layer norm over the last axis, one row per `layout` row, with the modulation fused into the
 * store when `source` is given (row r reads the adaLN output of sample ⌊r / tokens⌋).
 */
export function layerNormWgsl(
  layout: RowLayout,
  groupsX: number,
  eps: number,
  source?: ModulationSource,
): string {
  const { width, lanes } = layout;
  const t = laneType(width);
  const inverseCount = f32Literal(1 / layout.channels);
  const epsLiteral = f32Literal(Math.fround(eps));
  // Rows know their sample and channel lane, so the adaLN index needs no per-element division.
  const store = (value: string) => {
    if (!source) return `out[base + c] = ${value};`;
    const sampleLanes = `(row / ${source.tokens}u) * ${source.sampleStride / width}u`;
    const index = (chunk: number) => `${sampleLanes} + ${(chunk * source.channels) / width}u + c`;
    return `out[base + c] = ${modulateExpression(value, source, width, index)};`;
  };
  const pivot = `let pivot = ${width === 4 ? "x[base].x" : "x[base]"};`;
  // Each vec4 component runs its own Welford over `lanes` values; Chan's formula merges
  // the four (equal counts: the spread of the component means adds lanes·Σ(mean_j − μ)²).
  const merge = width === 4
    ? `let mean = dot(means, vec4<f32>(0.25));
  let spread = means - mean;
  let variance = (dot(m2, vec4<f32>(1.0)) + ${
      f32Literal(lanes)
    } * dot(spread, spread)) * ${inverseCount};`
    : `let mean = means;
  let variance = m2 * ${inverseCount};`;
  const invocation = `  ${pivot}
  var means = Lane(0.0);
  var m2 = Lane(0.0);
  for (var c = 0u; c < ${lanes}u; c++) {
    let v = x[base + c] - pivot;
    let delta = v - means;
    means += delta * (1.0 / f32(c + 1u));
    m2 += delta * (v - means);
  }
  ${merge}
  let rstd = inverseSqrt(variance + ${epsLiteral});
  for (var c = 0u; c < ${lanes}u; c++) {
    ${store("(x[base + c] - pivot - mean) * rstd")}
  }`;
  // The held lanes become x − mean, so the shared ending's cached[k]·rstd is the norm.
  const cacheAndSum = heldLanesLoop(layout, "cached[k] = x[base + c] - pivot; sum += cached[k];");
  const centreAndSquare = heldLanesLoop(
    layout,
    "cached[k] = cached[k] - mean; squares += cached[k] * cached[k];",
  );
  const workgroup = `${pivot}
  var cached: array<Lane, ${layout.itemsPerThread}>;
  var sum = Lane(0.0);
  ${cacheAndSum}
  let mean = rowSum(${laneTotal(width, "sum")}, lid, lane) * ${inverseCount};
  var squares = Lane(0.0);
  ${centreAndSquare}`;
  const header = normBindings(t, source !== undefined);
  return normKernel(layout, groupsX, eps, header, { invocation, workgroup }, store);
}

/** x·(1 + scale) + shift over `[B, N, C]`, shift/scale read in place from the adaLN output. */
export function modulateWgsl(
  source: ModulationSource,
  batch: number,
  width: number,
  rowInvocations: number,
): string {
  const count = (batch * source.tokens * source.channels) / width;
  const index = (chunk: number) => chunkIndex(source, chunk, width);
  return mapKernel(
    normBindings(laneType(width), true),
    count,
    rowInvocations,
    `    out[i] = ${modulateExpression("x[i]", source, width, index)};`,
  );
}

/**
 * RMS norm over the last axis with a per-channel weight (T5's `T5LayerNorm`):
 * out = x / √(mean(x²) + eps) · weight. No mean is subtracted and there is no bias, so the sum
 * of squares has no cancellation to guard against; it is accumulated per vec4 component and
 * summed at the end. Bindings: x, weight [C], out.
 */
export function rmsNormWgsl(layout: RowLayout, groupsX: number, eps: number): string {
  const { width, lanes } = layout;
  const t = laneType(width);
  const inverseCount = f32Literal(1 / layout.channels);
  const epsLiteral = f32Literal(Math.fround(eps));
  const header = `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> weight: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;`;
  const invocation = `  var squares = Lane(0.0);
  for (var c = 0u; c < ${lanes}u; c++) {
    let v = x[base + c];
    squares = fma(v, v, squares);
  }
  let rstd = inverseSqrt(${laneTotal(width, "squares")} * ${inverseCount} + ${epsLiteral});
  for (var c = 0u; c < ${lanes}u; c++) {
    out[base + c] = x[base + c] * rstd * weight[c];
  }`;
  const cacheAndSquare = heldLanesLoop(
    layout,
    "cached[k] = x[base + c]; squares = fma(cached[k], cached[k], squares);",
  );
  const workgroup = `var cached: array<Lane, ${layout.itemsPerThread}>;
  var squares = Lane(0.0);
  ${cacheAndSquare}`;
  const store = (value: string) => `out[base + c] = ${value} * weight[c];`;
  return normKernel(layout, groupsX, eps, header, { invocation, workgroup }, store);
}
