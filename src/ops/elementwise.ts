/** Launchers for elementwise kernels. */

import {
  type BinaryOp,
  binaryWgsl,
  ELEMENTWISE_WORKGROUP_SIZE,
  gatedResidualWgsl,
  geluTanhMulWgsl,
  laneWidth,
  mapInvocations,
  type UnaryOp,
  unaryWgsl,
} from "../../shaders/elementwise.ts";
import { ShapeError } from "../errors.ts";
import { expectShape, Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";

/** Throws unless every tensor is f32. */
export function expectF32(op: string, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (t.dtype !== "f32") {
      throw new ShapeError(`${op}: f32 tensor expected, got ${t.dtype} [${t.shape}]`);
    }
  }
}

/**
 * Checks that `mod` is a chunked adaLN output `[B, K·C]` for `x = [B, N, C]` and that `chunks`
 * lie inside it; returns K·C.
 */
export function expectChunks(op: string, x: Tensor, mod: Tensor, chunks: number[]): number {
  if (x.shape.length !== 3) {
    throw new ShapeError(`${op}: expected x of shape [B, N, C], got [${x.shape}]`);
  }
  const [batch, , channels] = x.shape;
  const stride = mod.shape[1];
  if (mod.shape.length !== 2 || mod.shape[0] !== batch || stride % channels !== 0 || stride === 0) {
    throw new ShapeError(
      `${op}: expected mod of shape [${batch}, K·${channels}], got [${mod.shape}]`,
    );
  }
  const chunkCount = stride / channels;
  for (const chunk of chunks) {
    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= chunkCount) {
      throw new ShapeError(
        `${op}: chunk ${chunk} outside the ${chunkCount} chunks of mod [${mod.shape}]`,
      );
    }
  }
  return stride;
}

/**
 * Records kernel `name` with `invocations` invocations on a flat grid of elementwise-sized
 * workgroups, binding `tensors` in order; `wgsl` gets the grid's invocations per row.
 */
export function dispatchFlat(
  name: string,
  invocations: number,
  tensors: readonly Tensor[],
  wgsl: (rowInvocations: number) => string,
): void {
  const grid = flatGrid(invocations, ELEMENTWISE_WORKGROUP_SIZE);
  tensors[0].gpu.dispatch({
    name,
    wgsl: wgsl(grid.rowInvocations),
    bindings: tensors.map((t) => t.binding()),
    workgroups: grid.workgroups,
  });
}

function mapGrid(size: number, width: number): ReturnType<typeof flatGrid> {
  return flatGrid(mapInvocations(size, width), ELEMENTWISE_WORKGROUP_SIZE);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  expectF32(op, a, b);
  if (b.size === 0 || a.size % b.size !== 0) {
    throw new ShapeError(`${op}: [${b.shape}] does not broadcast onto [${a.shape}]`);
  }
  const out = Tensor.empty(a.gpu, a.shape, "f32", op);
  if (a.size === 0) return out;
  const grid = mapGrid(a.size, laneWidth(a.size, b.size));
  a.gpu.dispatch({
    name: op,
    wgsl: binaryWgsl(op, a.size, b.size, grid.rowInvocations),
    bindings: [a.binding(), b.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

function unary(name: string, op: UnaryOp, x: Tensor): Tensor {
  expectF32(name, x);
  const out = Tensor.empty(x.gpu, x.shape, "f32", name);
  if (x.size === 0) return out;
  const grid = mapGrid(x.size, laneWidth(x.size));
  x.gpu.dispatch({
    name,
    wgsl: unaryWgsl(op, x.size, grid.rowInvocations),
    bindings: [x.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

/** a + b, with b the same size as a or repeated over a's leading axes. */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary("add", a, b);
}

/** a · b elementwise, with b the same size as a or repeated over a's leading axes. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary("mul", a, b);
}

/** GELU with the tanh approximation (PyTorch `approximate="tanh"`), as DiT's feed-forward. */
export function geluTanh(x: Tensor): Tensor {
  return unary("gelu_tanh", { kind: "gelu_tanh" }, x);
}

/**
 * gelu_tanh(gate) ⊙ up in one pass, for gate and up of the same shape: the gated-GELU of T5 v1.1
 * (`gelu_new(wi_0(x)) · wi_1(x)`), saving the activation's own pass and buffer.
 */
export function geluTanhMul(gate: Tensor, up: Tensor): Tensor {
  const op = "geluTanhMul";
  expectF32(op, gate, up);
  expectShape(up, gate.shape, `${op} up`);
  const out = Tensor.empty(gate.gpu, gate.shape, "f32", op);
  if (gate.size === 0) return out;
  const grid = mapGrid(gate.size, laneWidth(gate.size));
  gate.gpu.dispatch({
    name: op,
    wgsl: geluTanhMulWgsl(gate.size, grid.rowInvocations),
    bindings: [gate.binding(), up.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

/** x · sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return unary("silu", { kind: "silu" }, x);
}

/** x · s (s rounded to f32). */
export function scale(x: Tensor, s: number): Tensor {
  if (!Number.isFinite(s)) throw new RangeError(`scale: factor ${s} is not finite`);
  return unary("scale", { kind: "scale", factor: s }, x);
}

/**
 * h + gate ⊙ y for h, y of shape [B, N, C], gate = mod[b, gateChunk·C : (gateChunk+1)·C]
 * read in place from the chunked adaLN output mod [B, K·C].
 */
export function gatedResidualAdd(h: Tensor, y: Tensor, mod: Tensor, gateChunk: number): Tensor {
  const op = "gatedResidualAdd";
  expectF32(op, h, y, mod);
  const stride = expectChunks(op, h, mod, [gateChunk]);
  expectShape(y, h.shape, `${op} y`);
  const [batch, tokens, channels] = h.shape;
  const out = Tensor.empty(h.gpu, h.shape, "f32", op);
  if (h.size === 0) return out;
  const grid = mapGrid(h.size, laneWidth(channels));
  h.gpu.dispatch({
    name: op,
    wgsl: gatedResidualWgsl(
      { tokens, channels, sampleStride: stride },
      gateChunk,
      batch,
      grid.rowInvocations,
    ),
    bindings: [h.binding(), y.binding(), mod.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}
