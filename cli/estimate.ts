/** A one-line warning before a sampling run that will take very long. */

import { type CostShape, fullPlan, planCost } from "../src/compression/plan.ts";
import { type PlanFile, planOf } from "../src/compression/plan_file.ts";
import type { Gpu } from "../src/gpu/context.ts";
import { isGuided } from "../src/sampling/sample_loop.ts";
import { formatSeconds } from "./progress.ts";

function formatDuration(seconds: number): string {
  if (seconds < 3600) return formatSeconds(seconds);
  const hours = seconds / 3600;
  return hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} days`;
}

/**
 * Nominal multiply-accumulates per second of our WGSL kernels, for the warning only: the order
 * of magnitude measured on lavapipe (2 shared cores) and what a discrete GPU reaches with them.
 */
const NOMINAL_MACS_PER_SECOND = { cpu: 2e10, gpu: 2e12 };

/** Runs expected to take longer than this get the warning. */
const LONG_RUN_SECONDS = 10 * 60;

/** The run's multiply-accumulates: every layer with full attention, `samples` model rows. */
export function runMacs(
  shape: CostShape,
  run: { layers: number; steps: number; samples: number },
): number {
  return planCost(fullPlan(run.layers, run.steps, 0), shape).fullModelMacs * run.samples;
}

/** Prints one line to stderr (with the estimate) when the run will take very long; returns it. */
export function warnIfLongRun(
  gpu: Gpu,
  shape: CostShape,
  run: { layers: number; steps: number; samples: number },
): string | null {
  const macs = runMacs(shape, run);
  const rate = gpu.cpuKernels ? NOMINAL_MACS_PER_SECOND.cpu : NOMINAL_MACS_PER_SECOND.gpu;
  const seconds = macs / rate;
  if (seconds < LONG_RUN_SECONDS) return null;
  const line = `warning: this run needs about ${macs.toExponential(1)} multiply-accumulates ` +
    `(${run.steps} steps); at a nominal ${rate.toExponential(0)}/s for this ` +
    `${gpu.cpuKernels ? "CPU" : "GPU"} adapter that is about ${formatDuration(seconds)}`;
  console.error(line);
  return line;
}

/** warnIfLongRun for `count` samples at the settings the run resolved to (guidance runs two rows). */
export function warnIfLongSampling(
  gpu: Gpu,
  shape: CostShape,
  layers: number,
  settings: { steps: number; cfgScale: number },
  count: number,
): string | null {
  const samples = count * (isGuided(settings.cfgScale) ? 2 : 1);
  return warnIfLongRun(gpu, shape, { layers, steps: settings.steps, samples });
}

/** Prints what the plan at `path` costs against full attention. */
export function logPlanCost(path: string, plan: PlanFile, shape: CostShape): void {
  const cost = planCost(planOf(plan), shape);
  console.log(
    `plan ${path}: attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% ` +
      `of full, model MACs ${(100 * cost.modelMacs / cost.fullModelMacs).toFixed(1)}%`,
  );
}
