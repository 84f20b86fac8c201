/**
 * Plan files: versioned JSON with the calibration settings and methods[layer][step], written
 * atomically; refused with a PlanError when they do not belong to the model or step count.
 */

import { ATTENTION_METHODS, type AttentionMethod, isAttentionMethod } from "./methods.ts";
import { type AttentionPlan, type CostShape, validatePlan } from "./plan.ts";
import { OptionError, PlanError } from "../errors.ts";
import { SAMPLER_NAMES, type SamplerName } from "../sampling/scheduler.ts";
import { MAX_SEED } from "../sampling/prng.ts";
import { MAX_CFG_SCALE } from "../sampling/sample_loop.ts";

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

/** Model families plan files are written for. */
export const PLAN_FAMILIES: readonly string[] = ["dit", "pixart", "stdit2"];

/** Bounds of a plan's counts: far above real plans, far below what would allocate gigabytes. */
const PLAN_BOUNDS = { layers: 1000, steps: 10000, tokens: 1 << 24, nCalib: 1 << 20 };

function shown(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function fail(path: string, key: string, expected: string, value: unknown): never {
  throw new PlanError(`${path}: field "${key}" must be ${expected}, got ${shown(value)}`);
}

function requireNumber(
  raw: Record<string, unknown>,
  key: string,
  path: string,
  range: { min: number; max: number; integer?: boolean },
  prefix = "",
): number {
  const value = raw[key];
  const { min, max, integer } = range;
  if (
    typeof value !== "number" || !(value >= min && value <= max) ||
    (integer && !Number.isInteger(value))
  ) {
    fail(path, prefix + key, `${integer ? "an integer" : "a number"} from ${min} to ${max}`, value);
  }
  return value;
}

function requireString(raw: Record<string, unknown>, key: string, path: string, prefix = "") {
  const value = raw[key];
  if (typeof value !== "string" || value === "") fail(path, prefix + key, "a string", value);
  return value;
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

/**
 * Checks a plan given as a JSON value: format and version, then every field's type and range
 * (the model it is for, steps, sampler, guidance scale, window, seed, candidates and the method
 * table), so a hand-edited or truncated plan fails here naming the field, never later.
 */
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
  const model = plan.model as Record<string, unknown>;
  if (typeof model !== "object" || model === null || Array.isArray(model)) {
    fail(path, "model", "an object", model);
  }
  const family = requireString(model, "family", path, "model.");
  if (!PLAN_FAMILIES.includes(family)) {
    fail(path, "model.family", `one of ${PLAN_FAMILIES.join(", ")}`, family);
  }
  requireString(model, "configHash", path, "model.");
  const layers = requireNumber(model, "layers", path, {
    min: 1,
    max: PLAN_BOUNDS.layers,
    integer: true,
  }, "model.");
  const tokens = requireNumber(model, "tokens", path, {
    min: 1,
    max: PLAN_BOUNDS.tokens,
    integer: true,
  }, "model.");
  const steps = requireNumber(plan, "steps", path, {
    min: 1,
    max: PLAN_BOUNDS.steps,
    integer: true,
  });
  const sampler = plan.sampler;
  if (typeof sampler !== "string" || !(SAMPLER_NAMES as readonly string[]).includes(sampler)) {
    fail(path, "sampler", `one of ${SAMPLER_NAMES.join(", ")}`, sampler);
  }
  requireNumber(plan, "cfgScale", path, { min: 0, max: MAX_CFG_SCALE });
  // A band wider than the sequence is full attention; anything larger is a broken file.
  requireNumber(plan, "window", path, { min: 0, max: tokens, integer: true });
  requireNumber(plan, "threshold", path, { min: 0, max: Number.MAX_VALUE });
  requireNumber(plan, "nCalib", path, { min: 1, max: PLAN_BOUNDS.nCalib, integer: true });
  requireNumber(plan, "seed", path, { min: 0, max: MAX_SEED, integer: true });
  requireNumber(plan, "attentionMacsFraction", path, { min: 0, max: Number.MAX_VALUE });
  requireNumber(plan, "calibrationSeconds", path, { min: 0, max: Number.MAX_VALUE });
  requireString(plan, "createdAt", path);
  const candidates = plan.candidates;
  if (!Array.isArray(candidates) || !candidates.every(isAttentionMethod)) {
    fail(path, "candidates", `a list of ${ATTENTION_METHODS.join(", ")}`, candidates);
  }
  try {
    validatePlan(
      { window: plan.window as number, methods: plan.methods as AttentionMethod[][] },
      { layers, steps },
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
  if (plan.model.layers !== model.layers) {
    throw new PlanError(
      `${where} was calibrated for a model with ${plan.model.layers} layers, this one has ` +
        `${model.layers}`,
    );
  }
  // Before the config hash, which also covers the token grid for PixArt and STDiT2: a plan used
  // at another resolution is told so, not that it belongs to another model.
  if (model.tokens !== undefined && plan.model.tokens !== model.tokens) {
    throw new PlanError(
      `${where} was calibrated at ${plan.model.tokens} tokens per attention, sampling has ` +
        `${model.tokens} (another resolution): calibrate a plan for this size`,
    );
  }
  if (plan.model.configHash !== model.configHash) {
    throw new PlanError(
      `${where} was calibrated for another model or token grid (config ` +
        `${plan.model.configHash}), not this one (config ${model.configHash})`,
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
