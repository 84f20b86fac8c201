/**
 * Layout changes: swapping the middle axes of [A, X, Y, C] (a kernel), and joining or repeating
 * the columns of small [B, C] tensors (buffer copies, one per row and part: these are
 * conditioning vectors with a handful of rows).
 */

import { laneWidth, mapInvocations } from "../../shaders/elementwise.ts";
import { ELEMENTWISE_WORKGROUP_SIZE } from "../../shaders/elementwise.ts";
import { swapAxesWgsl } from "../../shaders/layout.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { expectF32 } from "./elementwise.ts";
import { flatGrid } from "./grid.ts";

/** [A, X, Y, C] → [A, Y, X, C]. */
export function swapMiddleAxes(x: Tensor): Tensor {
  const op = "swapMiddleAxes";
  expectF32(op, x);
  if (x.shape.length !== 4) {
    throw new ShapeError(`${op}: expected [A, X, Y, C], got [${x.shape}]`);
  }
  const [outer, first, second, channels] = x.shape;
  const out = Tensor.empty(x.gpu, [outer, second, first, channels], "f32", op);
  if (out.size === 0) return out;
  const width = laneWidth(channels);
  const grid = flatGrid(mapInvocations(x.size, width), ELEMENTWISE_WORKGROUP_SIZE);
  x.gpu.dispatch({
    name: op,
    wgsl: swapAxesWgsl({ outer, first, second, channels }, width, grid.rowInvocations),
    bindings: [x.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

function expectRows(op: string, parts: readonly Tensor[]): number {
  if (parts.length === 0) throw new ShapeError(`${op}: nothing to join`);
  const rows = parts[0].shape[0];
  for (const p of parts) {
    expectF32(op, p);
    if (p.shape.length !== 2 || p.shape[0] !== rows) {
      throw new ShapeError(
        `${op}: every part must be [${rows}, C], got [${parts.map((t) => `[${t.shape}]`)}]`,
      );
    }
  }
  return rows;
}

/** [B, C1], [B, C2], … → [B, C1 + C2 + …] (torch.cat along dim 1). */
export function concatColumns(parts: readonly Tensor[]): Tensor {
  const rows = expectRows("concatColumns", parts);
  const total = parts.reduce((sum, p) => sum + p.shape[1], 0);
  const gpu = parts[0].gpu;
  const out = Tensor.empty(gpu, [rows, total], "f32", "concatColumns");
  const dst = out.binding();
  for (let r = 0; r < rows; r++) {
    let column = 0;
    for (const part of parts) {
      const width = part.shape[1];
      const src = part.binding();
      if (width > 0) {
        gpu.copy(
          { ...src, offset: src.offset + r * width * 4 },
          { ...dst, offset: dst.offset + (r * total + column) * 4 },
          width * 4,
        );
      }
      column += width;
    }
  }
  return out;
}

/** [B, C] → [B, k·C], each row repeated k times side by side. */
export function repeatColumns(x: Tensor, times: number): Tensor {
  if (!Number.isInteger(times) || times < 1) {
    throw new ShapeError(`repeatColumns: times must be a positive integer, got ${times}`);
  }
  return concatColumns(Array<Tensor>(times).fill(x));
}
