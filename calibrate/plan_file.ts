/**
 * Plan files: versioned JSON with the calibration settings and methods[layer][step], written
 * atomically; refused with a PlanError when they do not belong to the model or step count.
 */

import { dirname } from "node:path";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { type AttentionPlan, validatePlan } from "../src/compression/plan.ts";
import { PlanError } from "../src/errors.ts";
import type { SamplerName } from "../src/sampling/scheduler.ts";

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

/** Writes the plan as JSON via a temporary file and a rename, so no partial file is left. */
export async function savePlan(path: string, plan: PlanFile): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, JSON.stringify(plan, null, 1) + "\n");
    await Deno.rename(temporary, path);
  } catch (e) {
    await Deno.remove(temporary).catch(() => {});
    throw e;
  }
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

/** Reads and checks a plan file (format, version, fields, method table). */
export async function loadPlan(path: string): Promise<PlanFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new PlanError(`plan file ${path} cannot be read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new PlanError(`${path} is not JSON, so not a ditfastattn plan file`);
  }
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

/** Refuses a plan made for another model, token count (resolution) or step count. */
export function checkPlanFits(
  plan: PlanFile,
  model: { configHash: string; layers: number; tokens?: number },
  steps: number,
  where = "plan",
): void {
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
