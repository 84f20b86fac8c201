/**
 * Plan files: versioned JSON with the calibration settings and methods[layer][step], written
 * atomically; refused with a PlanError when they do not belong to the model or step count.
 */

import type { AttentionMethod } from "./methods.ts";
import { type AttentionPlan, type CostShape, validatePlan } from "./plan.ts";
import { OptionError, PlanError } from "../errors.ts";
import type { SamplerName } from "../sampling/scheduler.ts";

export const PLAN_FORMAT = "ditfastattn-plan";
export const PLAN_VERSION = 1;

export interface PlanFile {
  format: typeof PLAN_FORMAT;
  version: number;
  model: {
    family: string;
    /** Hash of the model config (see `configHash`). */
    configHash: string;
    layers: number;
    tokens: number;
  };
  steps: number;
  sampler: SamplerName;
  cfgScale: number;
  window: number;
  /** δ of the greedy search. */
  threshold: number;
  nCalib: number;
  seed: number;
  candidates: AttentionMethod[];
  methods: AttentionMethod[][];
  attentionMacsFraction: number;
  calibrationSeconds: number;
  createdAt: string;
}

export function planOf(file: PlanFile): AttentionPlan {
  return { window: file.window, methods: file.methods };
}

/** The plan file as JSON text (what `savePlan` writes and a page offers for download). */
export function planToJson(plan: PlanFile): string {
  return JSON.stringify(plan, null, 1) + "\n";
}

function requireField(
  raw: Record<string, unknown>,
  key: string,
  type: "number" | "string" | "object",
  path: string,
): void {
  if (typeof raw[key] !== type || raw[key] === null) {
    throw new PlanError(
      `${path}: field "${key}" must be a ${type}, got ${JSON.stringify(raw[key])}`,
    );
  }
}

/** Parses and checks a plan file's text; `path` names it in errors. */
export function parsePlanJson(text: string, path: string): PlanFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new PlanError(`${path} is not JSON, so not a ditfastattn plan file`);
  }
  return checkPlanValue(raw, path);
}

/** Checks a plan given as a JSON value (format, version, fields, method table). */
export function checkPlanValue(raw: unknown, path = "plan"): PlanFile {
  if (
    typeof raw !== "object" || raw === null ||
    (raw as Record<string, unknown>).format !== PLAN_FORMAT
  ) {
    throw new PlanError(`${path} is not a ditfastattn plan file (no "format": "${PLAN_FORMAT}")`);
  }
  const plan = raw as Record<string, unknown>;
  if (plan.version !== PLAN_VERSION) {
    throw new PlanError(
      `${path}: plan format version ${plan.version} is not supported (expected ${PLAN_VERSION})`,
    );
  }
  for (const key of ["steps", "window", "threshold", "cfgScale", "nCalib", "seed"]) {
    requireField(plan, key, "number", path);
  }
  requireField(plan, "sampler", "string", path);
  requireField(plan, "model", "object", path);
  const model = plan.model as Record<string, unknown>;
  requireField(model, "configHash", "string", path);
  requireField(model, "layers", "number", path);
  try {
    validatePlan(
      { window: plan.window as number, methods: plan.methods as AttentionMethod[][] },
      { layers: model.layers as number, steps: plan.steps as number },
    );
  } catch (e) {
    throw new PlanError(`${path}: ${(e as Error).message}`);
  }
  return raw as PlanFile;
}

/** What a plan is bound to: the model family, its config (and token grid), depth and tokens. */
export interface PlanFit {
  /** Model family written into plan files ("dit", "pixart", "stdit2"). */
  readonly family: string;
  /** Hash of the model config (and token grid); plans are refused for others. */
  readonly configHash: string;
  /** Blocks whose self-attention the plan drives. */
  readonly layers: number;
  /** Tokens one compressible self-attention sees (per frame for video models). */
  readonly tokens: number;
  /** Cost of one sample's step outside the compressible attention, for `planCost`. */
  readonly costShape: CostShape;
}

/** Refuses a plan made for another family, model, token count (resolution) or step count. */
export function checkPlanFits(
  plan: PlanFile,
  model: Pick<PlanFit, "configHash" | "layers"> & Partial<PlanFit>,
  steps: number,
  where = "plan",
): void {
  if (model.family !== undefined && plan.model.family !== model.family) {
    throw new PlanError(
      `${where} was calibrated for a ${plan.model.family} model, not ${model.family}`,
    );
  }
  if (plan.model.configHash !== model.configHash || plan.model.layers !== model.layers) {
    throw new PlanError(
      `${where} was calibrated for another model (config ${plan.model.configHash}, ` +
        `${plan.model.layers} layers), not this one (config ${model.configHash}, ${model.layers} layers)`,
    );
  }
  if (model.tokens !== undefined && plan.model.tokens !== model.tokens) {
    throw new PlanError(
      `${where} was calibrated at ${plan.model.tokens} tokens per attention, sampling has ` +
        `${model.tokens} (another resolution): calibrate a plan for this size`,
    );
  }
  if (plan.steps !== steps) {
    throw new PlanError(
      `${where} was calibrated for ${plan.steps} steps, sampling asks for ${steps}`,
    );
  }
}

/** xDiT's form: {"block0": {"step0": "FULL_ATTN", ...}, ...}. */
export function toXDiTPlan(plan: PlanFile): Record<string, Record<string, AttentionMethod>> {
  const out: Record<string, Record<string, AttentionMethod>> = {};
  plan.methods.forEach((row, l) => {
    out[`block${l}`] = Object.fromEntries(row.map((m, t) => [`step${t}`, m]));
  });
  return out;
}

/** Sampling settings a caller asked for (any may be left out). */
export interface RequestedSettings {
  steps?: number;
  sampler?: SamplerName;
  cfgScale?: number;
}

/**
 * The settings to sample with: the plan's when there is one, where an option that contradicts
 * the plan is an error naming both values (never silently overridden); else the options, then
 * the defaults.
 */
export function planSettings(
  plan: PlanFile | undefined,
  requested: RequestedSettings,
  defaults: { steps: number; sampler: SamplerName; cfgScale: number },
): { steps: number; sampler: SamplerName; cfgScale: number } {
  if (!plan) {
    return {
      steps: requested.steps ?? defaults.steps,
      sampler: requested.sampler ?? defaults.sampler,
      cfgScale: requested.cfgScale ?? defaults.cfgScale,
    };
  }
  const conflicts: string[] = [];
  if (requested.steps !== undefined && requested.steps !== plan.steps) {
    conflicts.push(`steps ${requested.steps} (plan: ${plan.steps})`);
  }
  if (requested.sampler !== undefined && requested.sampler !== plan.sampler) {
    conflicts.push(`sampler ${requested.sampler} (plan: ${plan.sampler})`);
  }
  if (requested.cfgScale !== undefined && requested.cfgScale !== plan.cfgScale) {
    conflicts.push(`cfg ${requested.cfgScale} (plan: ${plan.cfgScale})`);
  }
  if (conflicts.length > 0) {
    throw new OptionError(
      `the plan was calibrated for other settings: ${conflicts.join(", ")}; leave them out ` +
        `to use the plan's`,
    );
  }
  return { steps: plan.steps, sampler: plan.sampler, cfgScale: plan.cfgScale };
}
