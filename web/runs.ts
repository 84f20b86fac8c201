/// <reference lib="dom" />
/**
 * The two sampling runs shown side by side (full attention, and with the plan): a progress bar
 * per run, the grid drawn from the samples, and the figures (time per image, attention MACs,
 * speedup).
 */

import { drawGrid, type GridLayout } from "./draw.ts";

/** What one run measured (also returned to tests and the benchmark). */
export interface RunFigures {
  images: number;
  steps: number;
  stepSeconds: number[];
  /** Median step time × steps ÷ images (robust to the shader compiles of the first steps). */
  secondsPerImage: number;
  attentionMacsFraction: number;
}

export interface SampleResult {
  samples: Float32Array;
  shape: number[];
  stepSeconds: number[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function figuresOf(result: SampleResult, attentionMacsFraction: number): RunFigures {
  const images = result.shape[0];
  const steps = result.stepSeconds.length;
  return {
    images,
    steps,
    stepSeconds: result.stepSeconds,
    secondsPerImage: (median(result.stepSeconds) * steps) / images,
    attentionMacsFraction,
  };
}

export function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)}%`;
}

/** One run's column: heading, progress bar, canvas and a status line. */
export class RunView {
  readonly #progress: HTMLProgressElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #status: HTMLElement;

  constructor(root: HTMLElement) {
    this.#progress = root.querySelector("progress")!;
    this.#canvas = root.querySelector("canvas")!;
    this.#status = root.querySelector(".run-status")!;
  }

  start(steps: number, text: string): void {
    this.#progress.max = steps;
    this.#progress.value = 0;
    this.status(text);
  }

  /** `onStep` for the sampler: the bar and "step i/n, s per step". */
  readonly onStep = (step: number, steps: number, seconds: number): void => {
    this.#progress.max = steps;
    this.#progress.value = step + 1;
    this.status(`step ${step + 1}/${steps} (${seconds.toFixed(2)} s)`);
  };

  status(text: string, isError = false): void {
    this.#status.textContent = text;
    this.#status.className = isError ? "run-status error" : "run-status";
  }

  draw(result: SampleResult, captions: readonly string[], layout: GridLayout): void {
    drawGrid(this.#canvas, result.samples, result.shape, captions, layout);
  }
}

function setCell(id: string, text: string): void {
  document.getElementById(id)!.textContent = text;
}

/** Fills the figures table (plan column left as "–" when there was no plan run). */
export function showFigures(full: RunFigures, plan: RunFigures | null): void {
  setCell("full-time", `${full.secondsPerImage.toFixed(3)} s`);
  setCell("full-macs", percent(full.attentionMacsFraction));
  setCell("plan-time", plan ? `${plan.secondsPerImage.toFixed(3)} s` : "–");
  setCell("plan-macs", plan ? percent(plan.attentionMacsFraction) : "–");
  setCell("speedup", plan ? `${(full.secondsPerImage / plan.secondsPerImage).toFixed(2)}×` : "–");
}
