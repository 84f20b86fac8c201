/** Output-comparison losses computed on the GPU (one number read back). */

import { clippedRelativeErrorWgsl } from "../../shaders/loss.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";

/** Guards the relative error against 0/0 where both outputs vanish (docs/DESIGN.md §5). */
export const LOSS_EPSILON = 1e-6;

/**
 * mean(clip(|a − b| / (max(|a|, |b|) + 1e−6), 0, 10)) over all elements, as a [1] tensor
 * (read it with `toFloat32()`).
 */
export function meanClippedRelativeError(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size || a.dtype !== "f32" || b.dtype !== "f32") {
    throw new ShapeError(
      `meanClippedRelativeError: f32 tensors of one size expected, got ${a.dtype} [${a.shape}] and ${b.dtype} [${b.shape}]`,
    );
  }
  const out = Tensor.empty(a.gpu, [1], "f32", "loss");
  a.gpu.dispatch({
    name: "meanClippedRelativeError",
    wgsl: clippedRelativeErrorWgsl(a.size, LOSS_EPSILON),
    bindings: [a.binding(), b.binding(), out.binding()],
    workgroups: [1],
  });
  return out;
}

/** The same on the CPU (float64), for tests and reports. */
export function meanClippedRelativeErrorCpu(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const relative = Math.abs(a[i] - b[i]) /
      (Math.max(Math.abs(a[i]), Math.abs(b[i])) + LOSS_EPSILON);
    sum += Math.min(Math.max(relative, 0), 10);
  }
  return sum / a.length;
}
