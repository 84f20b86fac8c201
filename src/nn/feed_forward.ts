/**
 * The transformer feed-forward Linear(C→4C) → GELU(tanh) → Linear(4C→C), run over row chunks
 * when the 4C-wide hidden activations would exceed one storage binding (PixArt at 1024 px with
 * CFG holds [2, 4096, 4608] f32 = 151 MB there, over lavapipe's 128 MiB binding limit).
 */

import { Tensor } from "../tensor.ts";
import { applyLinear, type LinearWeights } from "./layers.ts";

/** Chunks start at multiples of this many rows when they can, so row views need no copy (64·4 B = 256 B). */
const ROW_ALIGN = 64;

export function feedForward(x: Tensor, fc1: LinearWeights, fc2: LinearWeights): Tensor {
  const channels = x.shape[x.shape.length - 1];
  const hiddenWidth = fc1.weight.shape[0];
  const rows = x.size / channels;
  const maxBinding = x.gpu.limits.maxStorageBufferBindingSize;
  const fitting = Math.max(1, Math.floor(maxBinding / (hiddenWidth * 4)));
  const rowsPerChunk = fitting >= ROW_ALIGN ? fitting - (fitting % ROW_ALIGN) : fitting;
  if (rows <= rowsPerChunk) {
    const hidden = applyLinear(x, fc1, "gelu_tanh");
    const out = applyLinear(hidden, fc2);
    hidden.release();
    return out;
  }
  const flat = x.reshape([rows, channels]);
  const out = Tensor.empty(x.gpu, x.shape, "f32", "feedForward");
  const dst = out.binding();
  for (let start = 0; start < rows; start += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, rows - start);
    const slice = flat.rows(start, count);
    const hidden = applyLinear(slice, fc1, "gelu_tanh");
    slice.release();
    const part = applyLinear(hidden, fc2);
    hidden.release();
    x.gpu.copy(
      part.binding(),
      { ...dst, offset: dst.offset + start * channels * 4 },
      part.byteLength,
    );
    part.release();
  }
  flat.release();
  return out;
}
