/** Launcher for the last-axis softmax. */

import { planRows, type RowVariant } from "../../shaders/rows.ts";
import { softmaxWgsl } from "../../shaders/softmax.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { expectF32 } from "./elementwise.ts";
import { DEFAULT_ROW_VARIANT, rowGrid } from "./norm.ts";

/** exp(x − max) / Σ exp(x − max) over the last axis of x [..., L]. */
export function softmax(x: Tensor, variant: RowVariant = DEFAULT_ROW_VARIANT): Tensor {
  expectF32("softmax", x);
  const length = x.shape[x.shape.length - 1];
  if (x.shape.length === 0 || !(length > 0)) {
    throw new ShapeError(`softmax: expected shape [..., L] with L > 0, got [${x.shape}]`);
  }
  const out = Tensor.empty(x.gpu, x.shape, "f32", "softmax");
  const rows = x.size / length;
  if (rows === 0) return out;
  const layout = planRows(variant, rows, length);
  const grid = rowGrid(layout);
  x.gpu.dispatch({
    name: "softmax",
    wgsl: softmaxWgsl(layout, grid.workgroups[0]),
    bindings: [x.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}
