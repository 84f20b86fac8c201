/** Plan validation, residual write schedule and MACs accounting. */

import { deepEqual } from "node:assert/strict";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { planCost, residualWrites, validatePlan } from "../src/compression/plan.ts";
import { PlanError } from "../src/errors.ts";
import { readGoldenJson } from "./golden_files.ts";

async function goldenPlan(): Promise<
  { window: number; methods: AttentionMethod[][]; fraction: number }
> {
  const manifest = await readGoldenJson("manifest.json");
  const ddim = (manifest.cases as Record<string, Record<string, unknown>>).ddim;
  const plan = ddim.plan as {
    window: number;
    methods: AttentionMethod[][];
    attention_macs_fraction: number;
  };
  return { window: plan.window, methods: plan.methods, fraction: plan.attention_macs_fraction };
}

Deno.test("attention MACs fraction of the golden plan matches the manifest", async () => {
  const { window, methods, fraction } = await goldenPlan();
  // dit-tiny-random: 16×16 latent, patch 2 → 64 tokens, width 32.
  const cost = planCost({ window, methods }, { tokens: 64, width: 32, otherMacsPerStep: 0 });
  const relative = Math.abs(cost.attentionMacsFraction - fraction) / fraction;
  if (relative > 1e-12) throw new Error(`fraction ${cost.attentionMacsFraction} vs ${fraction}`);
});

Deno.test("residuals are written only at full steps a window step follows", () => {
  const row: AttentionMethod[] = [
    "FULL_ATTN",
    "RESIDUAL_WINDOW_ATTN",
    "FULL_ATTN_CFG_SHARE",
    "OUTPUT_SHARE",
    "FULL_ATTN",
    "OUTPUT_SHARE",
    "RESIDUAL_WINDOW_ATTN_CFG_SHARE",
  ];
  deepEqual(residualWrites([row])[0], [true, false, false, false, true, false, false]);
});

Deno.test("validatePlan rejects bad plans with a clear error", async () => {
  const { window, methods } = await goldenPlan();
  const ok = { window, methods };
  validatePlan(ok, { layers: 3, steps: 10, batch: 4, guided: true });
  type Expect = { layers: number; steps: number; batch?: number; guided?: boolean };
  const cases: [unknown, RegExp, Expect][] = [
    [{ window, methods: methods.slice(1) }, /2 layers, the model has 3/, { layers: 3, steps: 10 }],
    [ok, /10 steps, sampling uses 12/, { layers: 3, steps: 12 }],
    [{ window, methods: [["FULL_ATTN", "FAST"]] }, /unknown method "FAST"/, {
      layers: 1,
      steps: 2,
    }],
    [
      { window, methods: [["OUTPUT_SHARE", "FULL_ATTN"]] },
      /step 0 must be FULL_ATTN/,
      { layers: 1, steps: 2 },
    ],
    [
      { window, methods: [["FULL_ATTN", "OUTPUT_SHARE", "RESIDUAL_WINDOW_ATTN"]] },
      /./,
      { layers: 1, steps: 3 },
    ],
    [ok, /batch \(3\) is odd/, { layers: 3, steps: 10, batch: 3, guided: true }],
    [ok, /needs classifier-free guidance/, { layers: 3, steps: 10, batch: 2, guided: false }],
    [{ window: -1, methods }, /window must be a non-negative integer/, { layers: 3, steps: 10 }],
  ];
  // The fifth plan is valid (step 0 is a full step before the window step): it must pass.
  validatePlan(cases[4][0] as never, cases[4][2]);
  cases.splice(4, 1);
  for (const [plan, message, expect] of cases) {
    let error: unknown = null;
    try {
      validatePlan(plan as never, expect);
    } catch (e) {
      error = e;
    }
    if (!(error instanceof PlanError)) throw new Error(`no PlanError for ${message}`);
    if (!message.test(error.message)) {
      throw new Error(`"${error.message}" does not match ${message}`);
    }
  }
});
