/**
 * Per-sampling-run state of DiTFastAttn: which method each layer uses at the current step, and
 * the per-layer caches with their write rules (docs/DESIGN.md §4):
 * - residual R[l] = full − window before the out-projection, written at full steps that a
 *   window step follows (or at every full step while calibrating);
 * - output O[l] after the out-projection, kept while a later OUTPUT_SHARE step may need it.
 */

import { PlanError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import type { AttentionMethod } from "./methods.ts";
import { type AttentionPlan, residualWrites } from "./plan.ts";

interface LayerCache {
  residual: Tensor | null;
  output: Tensor | null;
}

export interface AttentionRuntimeOptions {
  /** Store the residual at every full step (calibration, where later steps are not known yet). */
  storeResidualAtEveryFullStep?: boolean;
  /** Keep every layer's output (calibration). */
  keepEveryOutput?: boolean;
}

export class AttentionRuntime {
  /** Index of the step being computed. */
  step = 0;
  /**
   * When false, forward passes read the caches but do not replace them: calibration trials
   * must leave the state of the real trajectory untouched.
   */
  writeCaches = true;
  readonly #caches: LayerCache[];
  #residualWrites: boolean[][];

  constructor(
    readonly plan: AttentionPlan,
    private readonly options: AttentionRuntimeOptions = {},
  ) {
    this.#caches = plan.methods.map(() => ({ residual: null, output: null }));
    this.#residualWrites = residualWrites(plan.methods);
  }

  get window(): number {
    return this.plan.window;
  }

  get layers(): number {
    return this.plan.methods.length;
  }

  /** Call after changing `plan.methods` in place (calibration). */
  planChanged(): void {
    this.#residualWrites = residualWrites(this.plan.methods);
  }

  method(layer: number): AttentionMethod {
    const method = this.plan.methods[layer]?.[this.step];
    if (!method) throw new PlanError(`plan has no method for layer ${layer} at step ${this.step}`);
    return method;
  }

  /** Whether this (full) step must also produce the residual for `layer`. */
  storesResidual(layer: number): boolean {
    if (!this.writeCaches) return false;
    if (this.options.storeResidualAtEveryFullStep) return true;
    return this.#residualWrites[layer][this.step];
  }

  /** Whether the output of `layer` at this step must be kept for a later OUTPUT_SHARE. */
  keepsOutput(layer: number): boolean {
    if (!this.writeCaches) return false;
    if (this.options.keepEveryOutput) return true;
    return this.plan.methods[layer][this.step + 1] === "OUTPUT_SHARE";
  }

  residual(layer: number): Tensor {
    return this.#cached(layer, "residual", "window attention needs a residual, none was stored");
  }

  output(layer: number): Tensor {
    return this.#cached(layer, "output", "OUTPUT_SHARE needs an earlier output, none was kept");
  }

  /** Takes ownership of `residual` as R[layer] (the previous one is released). */
  setResidual(layer: number, residual: Tensor): void {
    this.#store(layer, "residual", residual);
  }

  /** Takes ownership of `output` as O[layer] (the previous one is released). */
  setOutput(layer: number, output: Tensor): void {
    this.#store(layer, "output", output);
  }

  /** The cached tensor of `kind` for `layer`; `missing` (what needed it) completes the error. */
  #cached(layer: number, kind: keyof LayerCache, missing: string): Tensor {
    const tensor = this.#caches[layer][kind];
    if (!tensor) throw new PlanError(`layer ${layer} step ${this.step}: ${missing}`);
    return tensor;
  }

  #store(layer: number, kind: keyof LayerCache, tensor: Tensor): void {
    this.#caches[layer][kind]?.release();
    this.#caches[layer][kind] = tensor;
  }

  /** Frees every cache (call when sampling ends). */
  release(): void {
    for (const cache of this.#caches) {
      cache.residual?.release();
      cache.output?.release();
      cache.residual = null;
      cache.output = null;
    }
  }
}
