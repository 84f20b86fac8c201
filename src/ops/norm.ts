/** Launchers for layer norm, adaLN modulation and their fusion, and RMS norm. */

import {
  ELEMENTWISE_WORKGROUP_SIZE,
  laneWidth,
  mapInvocations,
} from "../../shaders/elementwise.ts";
import {
  layerNormWgsl,
  modulateWgsl,
  type ModulationSource,
  rmsNormWgsl,
} from "../../shaders/norm.ts";
import {
  planRows,
  ROW_WORKGROUP_SIZE,
  type RowLayout,
  type RowVariant,
} from "../../shaders/rows.ts";
import { ShapeError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { Tensor } from "../tensor.ts";
import { expectChunks, expectF32 } from "./elementwise.ts";
import { type FlatGrid, flatGrid } from "./grid.ts";

/**
 * One invocation per row measured faster on lavapipe at DiT shapes (see bench/norm_bench.ts);
 * pass `"workgroup"` for the barrier-based variant.
 */
export const DEFAULT_ROW_VARIANT: RowVariant = "invocation";

/**
 * The dispatch grid of a row kernel (norm and softmax): rows of invocations for the
 * `invocation` variant, workgroups for the `workgroup` one; WGSL gets `workgroups[0]`.
 */
export function rowGrid(layout: RowLayout): FlatGrid {
  return layout.variant === "invocation"
    ? flatGrid(layout.rows, ROW_WORKGROUP_SIZE)
    : flatGrid(layout.groups, 1);
}

/** The channel count C of x [..., C] for a row norm, after checking eps and x's shape. */
function normChannels(op: string, x: Tensor, eps: number): number {
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  const channels = x.shape[x.shape.length - 1];
  if (x.shape.length === 0 || channels === 0) {
    throw new ShapeError(`${op}: expected shape [..., C] with C > 0, got [${x.shape}]`);
  }
  return channels;
}

/**
 * Records row kernel `op` over the rows of x [..., C]: `wgsl` gets the row layout and the
 * grid's x size; binds x, `inputs`, then the output, which it returns.
 */
function normRows(
  op: string,
  x: Tensor,
  channels: number,
  variant: RowVariant,
  inputs: Tensor[],
  wgsl: (layout: RowLayout, groupsX: number) => string,
): Tensor {
  const rows = x.size / channels;
  const out = Tensor.empty(x.gpu, x.shape, "f32", op);
  if (rows === 0) return out;
  const layout = planRows(variant, rows, channels);
  const grid = rowGrid(layout);
  record(x.gpu, op, wgsl(layout, grid.workgroups[0]), grid, [x, ...inputs, out]);
  return out;
}

/**
 * Layer norm of x, checked as op `op`, with the adaLN modulation from `mod` fused into the
 * store when given.
 */
function normalize(
  op: string,
  x: Tensor,
  eps: number,
  variant: RowVariant,
  mod?: { tensor: Tensor; shiftChunk: number; scaleChunk: number },
): Tensor {
  let source: ModulationSource | undefined;
  if (mod) source = modulationSource(op, x, mod.tensor, mod.shiftChunk, mod.scaleChunk);
  else expectF32(op, x);
  const channels = normChannels(op, x, eps);
  return normRows(
    op,
    x,
    channels,
    variant,
    mod ? [mod.tensor] : [],
    (layout, groupsX) => layerNormWgsl(layout, groupsX, eps, source),
  );
}

/** Records one launch binding `tensors` in order. */
function record(gpu: Gpu, name: string, wgsl: string, grid: FlatGrid, tensors: Tensor[]): void {
  gpu.dispatch({
    name,
    wgsl,
    bindings: tensors.map((t) => t.binding()),
    workgroups: grid.workgroups,
  });
}

function modulationSource(
  op: string,
  x: Tensor,
  mod: Tensor,
  shiftChunk: number,
  scaleChunk: number,
): ModulationSource {
  expectF32(op, x, mod);
  const sampleStride = expectChunks(op, x, mod, [shiftChunk, scaleChunk]);
  return { tokens: x.shape[1], channels: x.shape[2], sampleStride, shiftChunk, scaleChunk };
}

/** Layer norm over the last axis without affine parameters: (x − mean) / √(var + eps). */
export function layerNorm(
  x: Tensor,
  eps: number,
  variant: RowVariant = DEFAULT_ROW_VARIANT,
): Tensor {
  return normalize("layerNorm", x, eps, variant);
}

/**
 * x·(1 + scale) + shift for x [B, N, C], with shift = mod[b, shiftChunk·C : +C] and scale
 * likewise, read in place from the chunked adaLN output mod [B, K·C].
 */
export function modulate(x: Tensor, mod: Tensor, shiftChunk: number, scaleChunk: number): Tensor {
  const op = "modulate";
  const source = modulationSource(op, x, mod, shiftChunk, scaleChunk);
  const out = Tensor.empty(x.gpu, x.shape, "f32", op);
  if (x.size === 0) return out;
  const width = laneWidth(source.channels);
  const grid = flatGrid(mapInvocations(x.size, width), ELEMENTWISE_WORKGROUP_SIZE);
  record(x.gpu, op, modulateWgsl(source, x.shape[0], width, grid.rowInvocations), grid, [
    x,
    mod,
    out,
  ]);
  return out;
}

/** layerNorm(x, eps) then modulate(…, mod, shiftChunk, scaleChunk), in one pass over each row. */
export function layerNormModulate(
  x: Tensor,
  eps: number,
  mod: Tensor,
  shiftChunk: number,
  scaleChunk: number,
  variant: RowVariant = DEFAULT_ROW_VARIANT,
): Tensor {
  return normalize("layerNormModulate", x, eps, variant, { tensor: mod, shiftChunk, scaleChunk });
}

/**
 * RMS norm over the last axis (T5's `T5LayerNorm`): x / √(mean(x²) + eps) · weight, with no
 * mean subtraction and no bias. x [..., C] f32, weight [C] f32.
 */
export function rmsNorm(
  x: Tensor,
  weight: Tensor,
  eps: number,
  variant: RowVariant = DEFAULT_ROW_VARIANT,
): Tensor {
  const op = "rmsNorm";
  expectF32(op, x, weight);
  const channels = normChannels(op, x, eps);
  if (weight.shape.length !== 1 || weight.shape[0] !== channels) {
    throw new ShapeError(
      `${op}: weight must be [${channels}] for x [${x.shape}], got [${weight.shape}]`,
    );
  }
  if (x.gpu !== weight.gpu) throw new ShapeError(`${op}: x and weight belong to different GPUs`);
  return normRows(
    op,
    x,
    channels,
    variant,
    [weight],
    (layout, groupsX) => rmsNormWgsl(layout, groupsX, eps),
  );
}
