/** Building blocks shared by the model families: linear layers and self-attention with DiTFastAttn. */

import type { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import { isCfgShareMethod } from "../src/compression/methods.ts";
import { fullAttention, fullAttentionWithResidual, windowAttention } from "../src/ops/attention.ts";
import { type Activation, linear } from "../src/ops/linear.ts";
import { duplicateBatch } from "../src/ops/sampler.ts";
import type { Tensor } from "../src/tensor.ts";

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

/** Full attention (optionally with the residual for later window steps) on the q/k/v of `x`. */
function attentionCore(
  qkv: Tensor,
  heads: number,
  layer: number,
  runtime: AttentionRuntime | undefined,
  full: boolean,
  share: boolean,
): Tensor {
  if (!runtime) return fullAttention(qkv, heads);
  if (full) {
    if (!runtime.storesResidual(layer)) return fullAttention(qkv, heads);
    const { output, residual } = fullAttentionWithResidual(qkv, heads, runtime.window);
    // Under CFG sharing the conditional residual serves both halves.
    runtime.setResidual(layer, share ? duplicateBatch(residual) : residual);
    if (share) residual.release();
    return output;
  }
  const cached = runtime.residual(layer);
  const residual = share ? cached.rows(0, cached.shape[0] / 2) : cached.reshape(cached.shape);
  const out = windowAttention(qkv, heads, runtime.window, residual);
  residual.release();
  return out;
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
  const projectedQkv = applyLinear(input, weights.qkv);
  input.release();
  const qkv = prepareQkv ? prepareQkv(projectedQkv) : projectedQkv;
  const full = method === "FULL_ATTN" || method === "FULL_ATTN_CFG_SHARE";
  const attended = attentionCore(qkv, heads, layer, runtime, full, share);
  qkv.release();
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
