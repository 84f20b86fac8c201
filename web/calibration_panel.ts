/// <reference lib="dom" />
/**
 * Calibrating a plan in the page (threshold slider, progress and ETA from `compress`'s
 * `onProgress`), downloading it as JSON and loading a plan file.
 */

import type * as Lib from "../mod.ts";
import { percent } from "./runs.ts";

/** A plan bound to a DiT (what `compress(ditTarget(model), …)` returns). */
export type DiTSampler = Lib.CompressedSampler<
  Parameters<ReturnType<typeof Lib.ditTarget>["sample"]>[0]
>;

export interface CalibrationRequest {
  threshold: number;
  count: number;
  steps: number;
  seed?: number;
  /** Include the window-attention candidates (default true). */
  windowCandidates?: boolean;
}

/** The greedy search's candidates without window attention (no residual kernel needed). */
const NO_WINDOW_CANDIDATES: Lib.AttentionMethod[] = ["OUTPUT_SHARE", "FULL_ATTN_CFG_SHARE"];

/** What the page reports about its plan (also returned to tests). */
export interface PlanReport {
  threshold: number;
  steps: number;
  window: number;
  nCalib: number;
  attentionMacsFraction: number;
  calibrationSeconds: number;
  histogram: Record<string, number>;
}

function element<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function seconds(s: number): string {
  return s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`;
}

export function readCalibrationForm(): CalibrationRequest {
  return {
    threshold: Number(element<HTMLInputElement>("threshold").value),
    count: Number(element<HTMLInputElement>("calib-count").value),
    steps: Number(element<HTMLInputElement>("calib-steps").value),
    windowCandidates: element<HTMLInputElement>("window-candidates").checked,
  };
}

/** Puts a request made through the page API into the form, so the page shows what ran. */
export function showCalibrationRequest(request: CalibrationRequest): void {
  element<HTMLInputElement>("threshold").value = String(request.threshold);
  element<HTMLOutputElement>("threshold-value").textContent = request.threshold.toFixed(3);
  element<HTMLInputElement>("calib-count").value = String(request.count);
  element<HTMLInputElement>("calib-steps").value = String(request.steps);
  element<HTMLInputElement>("window-candidates").checked = request.windowCandidates ?? true;
}

export function wireThresholdSlider(): void {
  const slider = element<HTMLInputElement>("threshold");
  const output = element<HTMLOutputElement>("threshold-value");
  const show = () => output.textContent = Number(slider.value).toFixed(3);
  slider.addEventListener("input", show);
  show();
}

/** Runs `compress` with the page's progress bar and ETA. */
export async function calibrate(
  lib: typeof Lib,
  model: Lib.dit.DiTModel,
  request: CalibrationRequest,
): Promise<DiTSampler> {
  const bar = element<HTMLProgressElement>("calibrate-progress");
  const status = element<HTMLElement>("calibrate-status");
  status.className = "";
  bar.max = request.steps - 1;
  bar.value = 0;
  const withWindow = request.windowCandidates ?? true;
  status.textContent = `Calibrating δ=${request.threshold} on ${request.count} image(s), ` +
    `${request.steps} steps${withWindow ? "" : ", no window attention"} (step 0 is always ` +
    `full attention)…`;
  const sampler = await lib.compress(
    lib.ditTarget(model),
    { count: request.count, seed: request.seed ?? 0 },
    {
      threshold: request.threshold,
      steps: request.steps,
      candidates: withWindow ? undefined : NO_WINDOW_CANDIDATES,
      onProgress: ({ step, steps, elapsedSeconds, etaSeconds }) => {
        bar.max = steps - 1;
        bar.value = step;
        status.textContent = `step ${step}/${steps - 1} searched, ${seconds(elapsedSeconds)} ` +
          `elapsed, about ${seconds(etaSeconds)} left`;
      },
    },
  );
  bar.value = bar.max;
  status.textContent = `Calibrated in ${seconds(sampler.planFile.calibrationSeconds ?? 0)}.`;
  return sampler;
}

export function planReport(sampler: Lib.CompressedSampler<unknown>): PlanReport {
  const file = sampler.planFile;
  return {
    threshold: file.threshold,
    steps: file.steps,
    window: file.window,
    nCalib: file.nCalib,
    attentionMacsFraction: sampler.cost().attentionMacsFraction,
    calibrationSeconds: file.calibrationSeconds ?? 0,
    histogram: sampler.histogram(),
  };
}

/** The plan summary line and the download/load controls' state. */
export function showPlan(sampler: Lib.CompressedSampler<unknown> | null, source: string): void {
  element<HTMLButtonElement>("download-plan").disabled = sampler === null;
  element<HTMLElement>("plan-error").hidden = true;
  const summary = element<HTMLElement>("plan-summary");
  if (!sampler) {
    summary.textContent = "No plan yet.";
    return;
  }
  const report = planReport(sampler);
  const methods = Object.entries(report.histogram).filter(([, n]) => n > 0)
    .map(([method, n]) => `${method} ${n}`).join(", ");
  summary.textContent = `Plan ${source}: δ=${report.threshold}, ${report.steps} steps, ` +
    `window ${report.window}, ${report.nCalib} calibration image(s); attention MACs ` +
    `${percent(report.attentionMacsFraction)} of full. Layer-steps: ${methods}.`;
}

/** A plan that failed to load or calibrate (the current plan, if any, stays in use). */
export function showPlanError(message: string): void {
  const error = element<HTMLElement>("plan-error");
  error.textContent = message;
  error.hidden = false;
}

/** Offers the plan as a JSON download (the same text `planToJson` writes to disk). */
export function downloadPlan(lib: typeof Lib, sampler: Lib.CompressedSampler<unknown>): string {
  const text = lib.planToJson(sampler.planFile);
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `tiny-fmnist-plan-d${sampler.planFile.threshold}-s${sampler.planFile.steps}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return text;
}

/** A plan file's text bound to the model (a PlanError names what does not fit). */
export function planFromText(
  lib: typeof Lib,
  model: Lib.dit.DiTModel,
  text: string,
  name: string,
): DiTSampler {
  const plan = lib.parsePlanJson(text, name);
  return lib.CompressedSampler.fromPlan(lib.ditTarget(model), plan);
}
