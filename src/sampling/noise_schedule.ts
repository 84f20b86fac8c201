/** The linear β schedule of DiT training and its cumulative products, in both precisions. */

export interface BetaScheduleOptions {
  trainSteps?: number;
  betaStart?: number;
  betaEnd?: number;
}

/** β_i = linspace(betaStart, betaEnd, trainSteps) in float64 (the original DiT's numpy form). */
export function linearBetas(options: BetaScheduleOptions = {}): Float64Array {
  const { trainSteps = 1000, betaStart = 1e-4, betaEnd = 0.02 } = options;
  const betas = new Float64Array(trainSteps);
  const step = trainSteps > 1 ? (betaEnd - betaStart) / (trainSteps - 1) : 0;
  for (let i = 0; i < trainSteps; i++) betas[i] = betaStart + i * step;
  return betas;
}

/**
 * torch.linspace in float32: the step is a float32 value and the second half of the range
 * is counted back from the end, so the values differ from start + i·step in the last bits.
 */
function torchLinspaceFloat32(start: number, end: number, count: number): Float64Array {
  const f = Math.fround;
  const out = new Float64Array(count);
  const step = count > 1 ? f((f(end) - f(start)) / (count - 1)) : 0;
  const half = Math.floor(count / 2);
  for (let i = 0; i < count; i++) {
    out[i] = i < half ? f(f(start) + f(step * i)) : f(f(end) - f(step * (count - 1 - i)));
  }
  return out;
}

/**
 * ᾱ_t = Π (1 − β) accumulated in float32, as diffusers does (its DDIM and DPM-Solver
 * schedules are float32 tensors); returned widened to float64 for the coefficient math.
 */
export function alphasCumprodFloat32(options: BetaScheduleOptions = {}): Float64Array {
  const { trainSteps = 1000, betaStart = 1e-4, betaEnd = 0.02 } = options;
  const betas = torchLinspaceFloat32(betaStart, betaEnd, trainSteps);
  const out = new Float64Array(betas.length);
  // torch's CPU cumprod accumulates float32 inputs in double and rounds each output.
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= Math.fround(1 - betas[i]);
    out[i] = Math.fround(product);
  }
  return out;
}

/** ᾱ_t accumulated in float64 from float64 betas (the original DiT code). */
export function alphasCumprodFloat64(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= 1 - betas[i];
    out[i] = product;
  }
  return out;
}

/** Python/numpy rounding: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
