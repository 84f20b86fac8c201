/**
 * Scaffolding for row-wise reductions (layer norm, softmax): how rows map onto invocations and
 * the workgroup reduction. Two variants, chosen by the launcher:
 *
 * - `invocation`: one invocation owns a whole row and loops over it. No barriers; lavapipe runs
 *   8 rows side by side in one SIMD register, so it wins whenever there are enough rows.
 * - `workgroup`: `threadsPerRow` invocations share a row (several rows per workgroup when the
 *   row is short), keep their slice in registers and reduce through workgroup memory. The
 *   portable choice for real GPUs, and for few, long rows.
 */

import { laneType } from "./elementwise.ts";

export type RowVariant = "invocation" | "workgroup";

export const ROW_WORKGROUP_SIZE = 64;

/** How a row kernel lays `rows` rows of `channels` values onto the grid. */
export interface RowLayout {
  variant: RowVariant;
  rows: number;
  channels: number;
  /** 4 when rows are read as vec4 (channels % 4 = 0), else 1. */
  width: 1 | 4;
  /** Lanes (vec4s or scalars) per row. */
  lanes: number;
  /** Invocations sharing one row (1 for the `invocation` variant). */
  threadsPerRow: number;
  rowsPerGroup: number;
  /** Lanes each invocation holds in registers (`workgroup` variant). */
  itemsPerThread: number;
  /** Workgroups needed (spread over x and y by the launcher). */
  groups: number;
}

/**
 * Threads per row for the `workgroup` variant: a power of two giving each invocation at least
 * four lanes, capped at the workgroup size (short rows pack several to a workgroup), unless
 * `threadsPerRowOverride` (a power of two ≤ 64) is given for tuning.
 */
export function planRows(
  variant: RowVariant,
  rows: number,
  channels: number,
  threadsPerRowOverride?: number,
): RowLayout {
  const width: 1 | 4 = channels % 4 === 0 ? 4 : 1;
  const lanes = channels / width;
  let threadsPerRow = 1;
  if (variant === "workgroup") {
    while (threadsPerRow < ROW_WORKGROUP_SIZE && threadsPerRow * 8 <= lanes) threadsPerRow *= 2;
    if (threadsPerRowOverride) threadsPerRow = threadsPerRowOverride;
  }
  const rowsPerGroup = ROW_WORKGROUP_SIZE / threadsPerRow;
  return {
    variant,
    rows,
    channels,
    width,
    lanes,
    threadsPerRow,
    rowsPerGroup,
    itemsPerThread: Math.ceil(lanes / threadsPerRow),
    groups: Math.max(1, Math.ceil(rows / rowsPerGroup)),
  };
}

/** Sum of the components of a lane value. */
export function laneTotal(width: number, value: string): string {
  return width === 4 ? `dot(${value}, vec4<f32>(1.0))` : value;
}

/** Max of the components of a lane value. */
export function laneMax(width: number, value: string): string {
  return width === 4 ? `max(max(${value}.x, ${value}.y), max(${value}.z, ${value}.w))` : value;
}

/**
 * A WGSL function `name(value, lid, lane) -> f32` combining `value` over the invocations of
 * one row with `combine` (an f32 function name such as `max`, or `add`), by a tree in
 * workgroup memory. Every invocation of the workgroup must call it (it has barriers).
 */
export function rowReduceFunction(layout: RowLayout, name: string, combine: string): string {
  return `
fn ${name}(value: f32, lid: u32, lane: u32) -> f32 {
  ${name}Partial[lid] = value;
  workgroupBarrier();
  for (var stride = ${layout.threadsPerRow >> 1}u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      ${name}Partial[lid] = ${combine}(${name}Partial[lid], ${name}Partial[lid + stride]);
    }
    workgroupBarrier();
  }
  let total = ${name}Partial[lid - lane];
  workgroupBarrier();
  return total;
}
var<workgroup> ${name}Partial: array<f32, ${ROW_WORKGROUP_SIZE}>;
`;
}

/** `fn add(a, b)` for use as a `combine` in `rowReduceFunction`. */
export const ADD_FUNCTION = "fn add(a: f32, b: f32) -> f32 { return a + b; }\n";

/**
 * A loop over the lanes a `workgroup`-variant invocation holds in `cached`: `body` sees `k`
 * (the slot in `cached`) and `c` (the lane in the row) and runs for the lanes inside the row.
 */
export function heldLanesLoop(layout: RowLayout, body: string): string {
  return `for (var k = 0u; k < ${layout.itemsPerThread}u; k++) {
    let c = lane + k * ${layout.threadsPerRow}u;
    if (c < ${layout.lanes}u) {
      ${body}
    }
  }`;
}

/**
 * The entry point of a row kernel. The body sees `row` (< rows guaranteed for `invocation`;
 * for `workgroup`, `live` says whether the row exists, as every invocation must reach the
 * barriers), `base` (first lane of the row), and for `workgroup` `lid`, `lane`.
 */
export function rowEntry(layout: RowLayout, groupsX: number, body: string): string {
  const t = laneType(layout.width);
  if (layout.variant === "invocation") {
    return `
alias Lane = ${t};
@compute @workgroup_size(${ROW_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x + gid.y * ${groupsX * ROW_WORKGROUP_SIZE}u;
  if (row >= ${layout.rows}u) { return; }
  let base = row * ${layout.lanes}u;
${body}
}`;
  }
  return `
alias Lane = ${t};
@compute @workgroup_size(${ROW_WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % ${layout.threadsPerRow}u;
  let row = (wid.x + wid.y * ${groupsX}u) * ${layout.rowsPerGroup}u + lid / ${layout.threadsPerRow}u;
  let live = row < ${layout.rows}u;
  let base = min(row, ${layout.rows - 1}u) * ${layout.lanes}u;
${body}
}`;
}
