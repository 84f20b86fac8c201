/**
 * Running a row-wise computation over chunks of a tensor's first axis, so that its widest
 * intermediate (a packed q/k/v, an MLP's hidden layer) stays within one storage binding.
 */

import { Tensor } from "../tensor.ts";

/** Rows of `bytesPerRow` each that fit one storage binding on `x`'s device (at least 1). */
export function rowsPerBinding(x: Tensor, bytesPerRow: number): number {
  return Math.max(1, Math.floor(x.gpu.limits.maxStorageBufferBindingSize / bytesPerRow));
}

/**
 * `fn` applied to rows [start, start + n) of x for chunks of at most `rowsPerChunk` rows, the
 * results ([n, ...rest] each) joined along the first axis. One call when everything fits.
 */
export function mapRowChunks(
  x: Tensor,
  rowsPerChunk: number,
  fn: (rows: Tensor) => Tensor,
): Tensor {
  const rows = x.shape[0];
  if (rows <= rowsPerChunk) return fn(x);
  let out: Tensor | null = null;
  for (let start = 0; start < rows; start += rowsPerChunk) {
    const slice = x.rows(start, Math.min(rowsPerChunk, rows - start));
    const part = fn(slice);
    slice.release();
    const rowBytes = part.byteLength / part.shape[0];
    out ??= Tensor.empty(x.gpu, [rows, ...part.shape.slice(1)], part.dtype, "row-chunks");
    const dst = out.binding();
    x.gpu.copy(part.binding(), { ...dst, offset: dst.offset + start * rowBytes }, part.byteLength);
    part.release();
  }
  return out!;
}
