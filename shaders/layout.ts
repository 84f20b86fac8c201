/**
 * Layout kernels: swapping the two middle axes of [A, X, Y, C] (a video's frame-major tokens
 * [B, T, S, C] to the position-major [B, S, T, C] temporal attention runs over, and back).
 * Rows of C stay contiguous, so each lane moves a vec4 when C allows it.
 */

import { laneType, mapKernel } from "./elementwise.ts";

export interface SwapShape {
  outer: number;
  /** Extent of the axis that leads in the input. */
  first: number;
  /** Extent of the axis that leads in the output. */
  second: number;
  channels: number;
}

/** out[a, y, x, c] = x[a, x, y, c] for x of shape [outer, first, second, channels]. */
export function swapAxesWgsl(shape: SwapShape, width: number, rowInvocations: number): string {
  const { outer, first, second } = shape;
  const t = laneType(width);
  const rowLanes = shape.channels / width;
  return mapKernel(
    `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;`,
    outer * first * second * rowLanes,
    rowInvocations,
    `    let c = i % ${rowLanes}u;
    let row = i / ${rowLanes}u;
    let f = row % ${first}u;
    let s = (row / ${first}u) % ${second}u;
    let a = row / ${first * second}u;
    out[i] = x[((a * ${first}u + f) * ${second}u + s) * ${rowLanes}u + c];`,
  );
}
