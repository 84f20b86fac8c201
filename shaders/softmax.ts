/**
 * Softmax over the last axis, max-subtracted so exp never overflows. Rows that are entirely
 * −∞ give NaN, as in PyTorch.
 */

import { f32Literal } from "./common.ts";
import { laneType } from "./elementwise.ts";
import {
  ADD_FUNCTION,
  heldLanesLoop,
  laneMax,
  laneTotal,
  rowEntry,
  type RowLayout,
  rowReduceFunction,
} from "./rows.ts";

// The most negative finite f32: WGSL has no infinity literal.
const LOWEST = f32Literal(-3.4028234663852886e38);

/**
 * Three passes over each row (max, Σ exp, store). An online max-and-sum in one pass measured
 * within noise of this on lavapipe while doing half again as many exps, so it is not used.
 */
export function softmaxWgsl(layout: RowLayout, groupsX: number): string {
  const { width, lanes } = layout;
  const t = laneType(width);
  const header = `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
`;
  if (layout.variant === "invocation") {
    return header + rowEntry(
      layout,
      groupsX,
      `  var largest = Lane(${LOWEST});
  for (var c = 0u; c < ${lanes}u; c++) { largest = max(largest, x[base + c]); }
  let rowMax = ${laneMax(width, "largest")};
  var sum = Lane(0.0);
  for (var c = 0u; c < ${lanes}u; c++) { sum += exp(x[base + c] - rowMax); }
  let inverseSum = 1.0 / ${laneTotal(width, "sum")};
  for (var c = 0u; c < ${lanes}u; c++) { out[base + c] = exp(x[base + c] - rowMax) * inverseSum; }`,
    );
  }
  const cacheAndMax = heldLanesLoop(
    layout,
    "cached[k] = x[base + c]; largest = max(largest, cached[k]);",
  );
  const expAndSum = heldLanesLoop(layout, "cached[k] = exp(cached[k] - rowMax); sum += cached[k];");
  const store = heldLanesLoop(layout, "out[base + c] = cached[k] * inverseSum;");
  return header + ADD_FUNCTION + rowReduceFunction(layout, "rowSum", "add") +
    rowReduceFunction(layout, "rowMax", "max") + rowEntry(
      layout,
      groupsX,
      `  var cached: array<Lane, ${layout.itemsPerThread}>;
  var largest = Lane(${LOWEST});
  ${cacheAndMax}
  let rowMax = rowMax(${laneMax(width, "largest")}, lid, lane);
  var sum = Lane(0.0);
  ${expAndSum}
  let inverseSum = 1.0 / rowSum(${laneTotal(width, "sum")}, lid, lane);
  if (!live) { return; }
  ${store}`,
    );
}
