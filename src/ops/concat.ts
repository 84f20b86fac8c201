/** Concatenation along the last axis, by buffer copies (no kernel: rows are contiguous spans). */

import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";

/**
 * [R, C₀] ++ [R, C₁] ++ … → [R, ΣCᵢ] for f32 tensors with the same leading axes (flattened to R
 * rows). One copy per row and part, so meant for short tensors such as per-sample embeddings.
 */
export function concatLastAxis(parts: readonly Tensor[]): Tensor {
  const op = "concatLastAxis";
  if (parts.length === 0) throw new ShapeError(`${op}: nothing to concatenate`);
  const lead = parts[0].shape.slice(0, -1);
  for (const part of parts) {
    const sameLead = part.shape.length === lead.length + 1 &&
      lead.every((d, i) => d === part.shape[i]);
    if (part.dtype !== "f32" || !sameLead) {
      throw new ShapeError(
        `${op}: every part must be f32 [${lead}, C], got ${part.dtype} [${part.shape}]`,
      );
    }
  }
  const widths = parts.map((p) => p.shape[p.shape.length - 1]);
  const total = widths.reduce((a, b) => a + b, 0);
  const rows = lead.reduce((a, b) => a * b, 1);
  const gpu = parts[0].gpu;
  const out = Tensor.empty(gpu, [...lead, total], "f32", op);
  const dst = out.binding();
  let column = 0;
  parts.forEach((part, i) => {
    const src = part.binding();
    const bytes = widths[i] * 4;
    if (bytes > 0) {
      for (let r = 0; r < rows; r++) {
        gpu.copy(
          { ...src, offset: src.offset + r * bytes },
          { ...dst, offset: dst.offset + (r * total + column) * 4 },
          bytes,
        );
      }
    }
    column += widths[i];
  });
  return out;
}
