/**
 * Nearest-neighbour ×2 upsample of NCHW planes: out[y, x] = in[⌊y/2⌋, ⌊x/2⌋] (torch's
 * F.interpolate(scale_factor=2, mode="nearest")). Memory-bound: when the input width is even,
 * each output vec4 is one input vec2 repeated, so loads and stores are both vectors.
 */

import { laneType, mapKernel } from "./elementwise.ts";

/** Bindings: 0 input slab [planes, H, W], 1 output slab [planes, 2H, 2W]. */
export function upsampleNearest2xWgsl(
  planes: number,
  height: number,
  width: number,
  rowInvocations: number,
): string {
  const vector = width % 2 === 0;
  const outWidth = 2 * width;
  if (vector) {
    // Output lane i covers output columns 4j..4j+3 of row r: input vec2 j of row ⌊r/2⌋.
    const rowLanes = outWidth / 4;
    const count = planes * 2 * height * rowLanes;
    return mapKernel(
      `@group(0) @binding(0) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;`,
      count,
      rowInvocations,
      `    let row = i / ${rowLanes}u;
    let v = x[(row / 2u) * ${width / 2}u + i % ${rowLanes}u];
    out[i] = v.xxyy;`,
    );
  }
  const count = planes * 2 * height * outWidth;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<${laneType(1)}>;
@group(0) @binding(1) var<storage, read_write> out: array<${laneType(1)}>;`,
    count,
    rowInvocations,
    `    let row = i / ${outWidth}u;
    out[i] = x[(row / 2u) * ${width}u + (i % ${outWidth}u) / 2u];`,
  );
}
