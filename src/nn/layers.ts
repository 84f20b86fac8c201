/** Building blocks shared by the model families: linear layers and self-attention with DiTFastAttn. */

import type { AttentionRuntime } from "../compression/attention_runtime.ts";
import { isCfgShareMethod, isWindowMethod } from "../compression/methods.ts";
import { fullAttention, fullAttentionWithResidual, windowAttention } from "../ops/attention.ts";
import { type Activation, linear } from "../ops/linear.ts";
import { duplicateBatch } from "../ops/sampler.ts";
import { Tensor } from "../tensor.ts";

/** The weights of one linear layer, PyTorch layout [out, in]. */
export interface LinearWeights {
  weight: Tensor;
  bias: Tensor;
}

export function applyLinear(
  x: Tensor,
  layer: LinearWeights,
  activation: Activation = "none",
): Tensor {
  return linear(x, layer.weight, layer.bias, { activation });
}

export interface SelfAttentionWeights {
  /** q, k, v stacked: [3C, C]. */
  qkv: LinearWeights;
  out: LinearWeights;
}

/** Which attention a layer computes at this step. */
type CoreMode = "full" | "fullWithResidual" | "window";

/** The attention of one packed qkv [b, N, 3C]: the output, and R = full − window when asked. */
function attentionCore(
  qkv: Tensor,
  heads: number,
  mode: CoreMode,
  window: number,
  residualIn: Tensor | undefined,
): { output: Tensor; residual?: Tensor } {
  if (mode === "full") return { output: fullAttention(qkv, heads) };
  if (mode === "fullWithResidual") return fullAttentionWithResidual(qkv, heads, window);
  return { output: windowAttention(qkv, heads, window, residualIn) };
}

/** Batch rows whose packed q/k/v [rows, N, 3C] f32 fits one storage binding. */
function qkvRowsPerBinding(x: Tensor, qkvWidth: number): number {
  const rowBytes = x.shape[1] * qkvWidth * 4;
  return Math.max(1, Math.floor(x.gpu.limits.maxStorageBufferBindingSize / rowBytes));
}

/**
 * q/k/v projection and attention of x [B, N, C]. When the packed q/k/v of the whole batch would
 * exceed one storage binding (video models: [B·T, S, 3C]), it runs over chunks of batch rows
 * (each a whole sequence), reading and writing the matching rows of the residuals.
 */
function attend(
  x: Tensor,
  qkvWeights: LinearWeights,
  heads: number,
  mode: CoreMode,
  window: number,
  residualIn: Tensor | undefined,
  prepareQkv: ((qkv: Tensor) => Tensor) | undefined,
): { output: Tensor; residual?: Tensor } {
  const project = (rows: Tensor) => {
    const projected = applyLinear(rows, qkvWeights);
    return prepareQkv ? prepareQkv(projected) : projected;
  };
  const [batch, tokens, channels] = x.shape;
  const rowsPerChunk = qkvRowsPerBinding(x, qkvWeights.weight.shape[0]);
  if (batch <= rowsPerChunk) {
    const qkv = project(x);
    const result = attentionCore(qkv, heads, mode, window, residualIn);
    qkv.release();
    return result;
  }
  const shape = [batch, tokens, channels];
  const output = Tensor.empty(x.gpu, shape, "f32", "attention");
  const residual = mode === "fullWithResidual"
    ? Tensor.empty(x.gpu, shape, "f32", "attention-residual")
    : undefined;
  const rowBytes = tokens * channels * 4;
  const place = (part: Tensor, into: Tensor, start: number) => {
    const dst = into.binding();
    x.gpu.copy(part.binding(), { ...dst, offset: dst.offset + start * rowBytes }, part.byteLength);
    part.release();
  };
  for (let start = 0; start < batch; start += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, batch - start);
    const rows = x.rows(start, count);
    const qkv = project(rows);
    rows.release();
    const residualRows = residualIn?.rows(start, count);
    const part = attentionCore(qkv, heads, mode, window, residualRows);
    residualRows?.release();
    qkv.release();
    place(part.output, output, start);
    if (part.residual) place(part.residual, residual!, start);
  }
  return { output, residual };
}

/**
 * Self-attention of x [B, N, C] under the layer's method for the current step (full attention
 * when there is no runtime). The result is the module output after the out-projection; the
 * caller owns it.
 */
export function selfAttention(
  x: Tensor,
  weights: SelfAttentionWeights,
  heads: number,
  layer: number,
  runtime?: AttentionRuntime,
  /** Applied to the projected qkv [B, N, 3C] before attention (q/k norms); takes ownership. */
  prepareQkv?: (qkv: Tensor) => Tensor,
): Tensor {
  const method = runtime?.method(layer) ?? "FULL_ATTN";
  if (method === "OUTPUT_SHARE") {
    const cached = runtime!.output(layer);
    return cached.reshape(cached.shape);
  }
  const share = isCfgShareMethod(method);
  const input = share ? x.rows(0, x.shape[0] / 2) : x.reshape(x.shape);
  const mode: CoreMode = isWindowMethod(method)
    ? "window"
    : runtime?.storesResidual(layer)
    ? "fullWithResidual"
    : "full";
  let residualIn: Tensor | undefined;
  if (mode === "window") {
    const cached = runtime!.residual(layer);
    residualIn = share ? cached.rows(0, cached.shape[0] / 2) : cached.reshape(cached.shape);
  }
  const window = runtime?.window ?? 0;
  const { output: attended, residual } = attend(
    input,
    weights.qkv,
    heads,
    mode,
    window,
    residualIn,
    prepareQkv,
  );
  input.release();
  residualIn?.release();
  if (residual) {
    // Under CFG sharing the conditional residual serves both halves.
    runtime!.setResidual(layer, share ? duplicateBatch(residual) : residual);
    if (share) residual.release();
  }
  const projected = applyLinear(attended, weights.out);
  attended.release();
  let output = projected;
  if (share) {
    output = duplicateBatch(projected);
    projected.release();
  }
  if (runtime?.keepsOutput(layer)) runtime.setOutput(layer, output.reshape(output.shape));
  return output;
}
