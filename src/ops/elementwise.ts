/** Launchers for elementwise kernels. */

import { binaryWgsl, type BinaryOp } from "../../shaders/elementwise.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== "f32" || b.dtype !== "f32") {
    throw new ShapeError(`${op}: f32 tensors expected, got ${a.dtype} and ${b.dtype}`);
  }
  if (b.size === 0 || a.size % b.size !== 0) {
    throw new ShapeError(`${op}: [${b.shape}] does not broadcast onto [${a.shape}]`);
  }
  const out = Tensor.empty(a.gpu, a.shape, "f32", op);
  const grid = flatGrid(a.size, 64);
  a.gpu.dispatch({
    name: op,
    wgsl: binaryWgsl(op, a.size, b.size, grid.rowInvocations),
    bindings: [a.binding(), b.binding(), out.binding()],
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
