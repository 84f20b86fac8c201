/** Launchers for the sampling-loop kernels (guidance and scheduler updates). */

import {
  ddpmStepWgsl,
  type GuidanceShape,
  guidanceWgsl,
  linearCombinationWgsl,
  SAMPLER_WORKGROUP_SIZE,
} from "../../shaders/sampler.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";

/** Σ_k coefficients[k] · terms[k], all terms the same shape. */
export function linearCombination(
  terms: readonly Tensor[],
  coefficients: readonly number[],
): Tensor {
  if (terms.length === 0 || terms.length !== coefficients.length) {
    throw new ShapeError(
      `linearCombination: ${terms.length} terms but ${coefficients.length} coefficients`,
    );
  }
  const first = terms[0];
  for (const t of terms) {
    if (t.size !== first.size || t.dtype !== "f32") {
      throw new ShapeError(
        `linearCombination: every term must be f32 [${first.shape}], got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  const gpu = first.gpu;
  const coef = Tensor.fromArray(gpu, Float32Array.from(coefficients), [coefficients.length]);
  const out = Tensor.empty(gpu, first.shape, "f32", "linearCombination");
  const grid = flatGrid(first.size, SAMPLER_WORKGROUP_SIZE);
  gpu.dispatch({
    name: "linearCombination",
    wgsl: linearCombinationWgsl(terms.length, first.size, grid.rowInvocations),
    bindings: [coef.binding(), ...terms.map((t) => t.binding()), out.binding()],
    workgroups: grid.workgroups,
  });
  coef.release();
  return out;
}

/**
 * Classifier-free guidance on a model output [2B, outChannels, H, W] whose batch is
 * [cond; uncond]: returns [B, epsChannels, H, W] = u + scale·(c − u) on the first
 * `guidedChannels` channels, c on the remaining ε channels.
 */
export function classifierFreeGuidance(
  modelOut: Tensor,
  epsChannels: number,
  scale: number,
  guidedChannels = epsChannels,
): Tensor {
  const [batch, outChannels, ...spatial] = modelOut.shape;
  if (batch % 2 !== 0 || spatial.length === 0) {
    throw new ShapeError(
      `classifierFreeGuidance: expected [2B, C, ...] with an even batch, got [${modelOut.shape}]`,
    );
  }
  if (epsChannels > outChannels || guidedChannels > epsChannels || guidedChannels < 0) {
    throw new ShapeError(
      `classifierFreeGuidance: ${guidedChannels} guided of ${epsChannels} ε channels ` +
        `do not fit ${outChannels} output channels`,
    );
  }
  const plane = spatial.reduce((a, b) => a * b, 1);
  const shape: GuidanceShape = { half: batch / 2, outChannels, epsChannels, guidedChannels, plane };
  const out = Tensor.empty(modelOut.gpu, [batch / 2, epsChannels, ...spatial], "f32", "guided");
  const grid = flatGrid(out.size, SAMPLER_WORKGROUP_SIZE);
  modelOut.gpu.dispatch({
    name: "classifierFreeGuidance",
    wgsl: guidanceWgsl(shape, scale, grid.rowInvocations),
    bindings: [modelOut.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

/** Coefficients of one DDPM step (see `ddpmStepWgsl`). */
export interface DdpmStepCoefficients {
  sqrtRecipAlphaCumprod: number;
  sqrtRecipm1AlphaCumprod: number;
  posteriorMeanCoef1: number;
  posteriorMeanCoef2: number;
  logBeta: number;
  posteriorLogVarianceClipped: number;
  noiseScale: number;
}

/**
 * x ← posterior mean + σ·z with the learned-range σ read from the variance channels of the
 * conditional half of `modelOut` ([≥B, 2C, H, W]); x, eps, noise are [B, C, H, W].
 */
export function ddpmStep(
  x: Tensor,
  eps: Tensor,
  modelOut: Tensor,
  noise: Tensor,
  c: DdpmStepCoefficients,
): Tensor {
  const [samples, channels, ...spatial] = x.shape;
  const outChannels = modelOut.shape[1];
  if (
    eps.size !== x.size || noise.size !== x.size || outChannels !== 2 * channels ||
    modelOut.shape[0] < samples
  ) {
    throw new ShapeError(
      `ddpmStep: x [${x.shape}], eps [${eps.shape}], noise [${noise.shape}] and a learned-sigma ` +
        `model output with ${2 * channels} channels expected, got [${modelOut.shape}]`,
    );
  }
  const plane = spatial.reduce((a, b) => a * b, 1);
  const gpu = x.gpu;
  const coef = Tensor.fromArray(
    gpu,
    Float32Array.of(
      c.sqrtRecipAlphaCumprod,
      c.sqrtRecipm1AlphaCumprod,
      c.posteriorMeanCoef1,
      c.posteriorMeanCoef2,
      c.logBeta,
      c.posteriorLogVarianceClipped,
      c.noiseScale,
    ),
    [7],
  );
  const out = Tensor.empty(gpu, x.shape, "f32", "ddpmStep");
  const grid = flatGrid(x.size, SAMPLER_WORKGROUP_SIZE);
  gpu.dispatch({
    name: "ddpmStep",
    wgsl: ddpmStepWgsl({ samples, channels, outChannels, plane }, grid.rowInvocations),
    bindings: [
      coef.binding(),
      x.binding(),
      eps.binding(),
      modelOut.binding(),
      noise.binding(),
      out.binding(),
    ],
    workgroups: grid.workgroups,
  });
  coef.release();
  return out;
}

/** [x; x] along the first axis (the CFG batch), by two buffer copies. */
export function duplicateBatch(x: Tensor): Tensor {
  const out = Tensor.empty(x.gpu, [2 * x.shape[0], ...x.shape.slice(1)], x.dtype, "cfgBatch");
  const bytes = x.binding().size;
  const dst = out.binding();
  x.gpu.copy(x.binding(), { ...dst, offset: dst.offset }, bytes);
  x.gpu.copy(x.binding(), { ...dst, offset: dst.offset + x.byteLength }, bytes);
  return out;
}

/** The first `channels` channels of x [B, C, ...] (ε without the variance channels). */
export function selectChannels(x: Tensor, channels: number): Tensor {
  const [batch, all, ...spatial] = x.shape;
  if (channels > all) {
    throw new ShapeError(`selectChannels: ${channels} channels of [${x.shape}]`);
  }
  const out = Tensor.empty(x.gpu, [batch, channels, ...spatial], x.dtype, "channels");
  const plane = spatial.reduce((a, b) => a * b, 1) * 4;
  const src = x.binding();
  const dst = out.binding();
  for (let b = 0; b < batch; b++) {
    x.gpu.copy(
      { ...src, offset: src.offset + b * all * plane },
      { ...dst, offset: dst.offset + b * channels * plane },
      channels * plane,
    );
  }
  return out;
}
