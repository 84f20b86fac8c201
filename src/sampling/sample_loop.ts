/**
 * The classifier-free-guidance sampling loop shared by every model: batch [cond; uncond],
 * one command stream and one submit per step, read back only at the end.
 */

import { AttentionRuntime } from "../compression/attention_runtime.ts";
import { type AttentionPlan, validatePlan } from "../compression/plan.ts";
import { OptionError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { classifierFreeGuidance, duplicateBatch, selectChannels } from "../ops/sampler.ts";
import { Tensor } from "../tensor.ts";
import type { Scheduler } from "./scheduler.ts";
import { batchNoise } from "./prng.ts";

/**
 * What a model is conditioned on for one model batch: a tensor with one row per batch element
 * (class labels), or any structure that says how many batch elements it covers (captions with
 * their masks).
 */
export type Conditioning = Tensor | { readonly batch: number };

/** Batch elements `conditioning` covers. */
export function conditioningBatch(conditioning: Conditioning): number {
  return conditioning instanceof Tensor ? conditioning.shape[0] : conditioning.batch;
}

/** What the loop needs from a model: channel counts, layer count and a forward pass. */
export interface Denoiser<C extends Conditioning = Tensor> {
  readonly gpu: Gpu;
  readonly layers: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Model output [B, outChannels, ...] for x [B, inChannels, ...] at `timestep`. */
  forward(x: Tensor, timestep: number, conditioning: C, attention?: AttentionRuntime): Tensor;
}

/** What a step hook sees: the step, its model timestep, the model batch and conditioning. */
export interface StepContext<C extends Conditioning = Tensor> {
  step: number;
  timestep: number;
  /** The current sample [B, ...]. */
  x: Tensor;
  /** The model batch for this step ([x; x] under guidance). */
  modelInput: Tensor;
  conditioning: C;
}

export interface LoopOptions<C extends Conditioning = Tensor> {
  /** Initial noise [B, C, ...] as flat values, and its shape. */
  noise: Float32Array;
  shape: readonly number[];
  /** Conditioning for the model batch: [cond; uncond] when guided, cond only otherwise. */
  conditioning: C;
  /** Guidance scale; at ≤ 1 guidance is off and only the conditional batch runs. */
  cfgScale: number;
  /** ε channels that guidance applies to (default all). */
  guidedChannels?: number;
  scheduler: Scheduler;
  plan?: AttentionPlan;
  /** Runtime to use instead of one built from `plan` (calibration passes its own). */
  runtime?: AttentionRuntime;
  /** Called after each step's GPU work has finished. */
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
  /**
   * Called before each step's forward pass with the sample x and the model input; calibration
   * runs its trial passes here and edits the plan of this step before the real pass.
   */
  beforeStep?: (context: StepContext<C>) => Promise<void> | void;
}

export interface LoopResult {
  samples: Float32Array;
  shape: number[];
  stepSeconds: number[];
}

/** The hooks a family's sample options pass through to the loop unchanged. */
export type LoopHooks<C extends Conditioning> = Pick<
  LoopOptions<C>,
  "plan" | "runtime" | "onStep" | "beforeStep"
>;

export function loopHooks<C extends Conditioning>(options: LoopHooks<C>): LoopHooks<C> {
  const { plan, runtime, onStep, beforeStep } = options;
  return { plan, runtime, onStep, beforeStep };
}

/** The given initial noise checked for its size, or the seeded draw of `batch` samples. */
export function initialNoise(
  given: Float32Array | undefined,
  seed: number,
  batch: number,
  perSample: number,
): Float32Array {
  const noise = given ?? batchNoise(seed, batch, perSample);
  if (noise.length !== batch * perSample) {
    throw new OptionError(`noise has ${noise.length} values, expected ${batch * perSample}`);
  }
  return noise;
}

export function isGuided(cfgScale: number): boolean {
  return cfgScale > 1;
}

export async function runSamplingLoop<C extends Conditioning>(
  model: Denoiser<C>,
  options: LoopOptions<C>,
): Promise<LoopResult> {
  const { scheduler, cfgScale, shape } = options;
  if (!Number.isFinite(cfgScale) || cfgScale < 0) {
    throw new OptionError(`cfg scale must be a non-negative number, got ${cfgScale}`);
  }
  const guided = isGuided(cfgScale);
  const steps = scheduler.timesteps.length;
  const batch = shape[0];
  const modelBatch = guided ? 2 * batch : batch;
  const conditioned = conditioningBatch(options.conditioning);
  if (conditioned !== modelBatch) {
    throw new OptionError(
      `conditioning has ${conditioned} rows, the model batch is ${modelBatch}`,
    );
  }
  if (options.plan) {
    validatePlan(options.plan, { layers: model.layers, steps, batch: modelBatch, guided });
  }
  const runtime = options.runtime ??
    (options.plan ? new AttentionRuntime(options.plan) : undefined);
  const gpu = model.gpu;
  let x = Tensor.fromArray(gpu, options.noise, shape, "f32", "noise");
  const stepSeconds: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const started = performance.now();
      const input = guided ? duplicateBatch(x) : x.reshape(x.shape);
      await options.beforeStep?.({
        step: i,
        timestep: scheduler.timesteps[i],
        x,
        modelInput: input,
        conditioning: options.conditioning,
      });
      if (runtime) runtime.step = i;
      const out = model.forward(input, scheduler.timesteps[i], options.conditioning, runtime);
      input.release();
      const eps = guided
        ? classifierFreeGuidance(out, model.inChannels, cfgScale, options.guidedChannels)
        : selectChannels(out, model.inChannels);
      const next = scheduler.step(i, x, eps, out);
      eps.release();
      out.release();
      x.release();
      x = next;
      await gpu.sync();
      const seconds = (performance.now() - started) / 1000;
      stepSeconds.push(seconds);
      options.onStep?.(i, steps, seconds);
    }
    const samples = await x.toFloat32();
    return { samples, shape: [...shape], stepSeconds };
  } finally {
    x.release();
    scheduler.release();
    if (!options.runtime) runtime?.release();
  }
}
