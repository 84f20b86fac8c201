/** Scheduler coefficients against the upstream values recorded with the golden sampler runs. */

import { deepEqual } from "node:assert/strict";
import { ddimTimesteps } from "../src/sampling/ddim.ts";
import { respacedDiffusion, respacedTimesteps } from "../src/sampling/ddpm.ts";
import { dpmSolverSchedule } from "../src/sampling/dpm_solver.ts";
import { roundHalfEven } from "../src/sampling/noise_schedule.ts";
import { assertRelativeError } from "./helpers.ts";
import { readGoldenJson, withGolden } from "./golden_files.ts";

type Run = Record<string, number[]>;

Deno.test("roundHalfEven matches Python's round on halves", () => {
  deepEqual([0.5, 1.5, 2.5, 166.5, 499.5, 832.5, -0.5].map(roundHalfEven), [
    0,
    2,
    2,
    166,
    500,
    832,
    -0,
  ]);
});

Deno.test("DDIM leading timesteps", () => {
  deepEqual(ddimTimesteps(10), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  deepEqual(ddimTimesteps(3), [666, 333, 0]);
});

for (const steps of [10, 25]) {
  Deno.test(`DPM-Solver++ ${steps}-step schedule matches diffusers`, async () => {
    const schedule = dpmSolverSchedule(steps);
    await withGolden("dit-tiny-random/samplers.safetensors", async (file) => {
      deepEqual(schedule.timesteps, Array.from(await file.readInt(`dpmpp_${steps}_timesteps`)));
      deepEqual(schedule.orders, Array.from(await file.readInt(`dpmpp_${steps}_order`)));
      // Both are float32 values of the same float32 formula: equal to float32 rounding.
      assertRelativeError(
        schedule.sigmas,
        await file.readFloat32(`dpmpp_${steps}_sigmas`),
        1e-7,
        "sigmas",
      );
    });
  });

  Deno.test(`DDPM ${steps}-step respacing matches the original DiT`, async () => {
    const json = await readGoldenJson("dit-tiny-random/samplers.json");
    const run = ((json.ddpm as Record<string, unknown>).runs as Record<string, Run>)[String(steps)];
    deepEqual(respacedTimesteps(steps), run.timestep_map);
    const d = respacedDiffusion(steps);
    const pairs: [ArrayLike<number>, number[], string][] = [
      [d.betas, run.betas, "betas"],
      [d.logBetas, run.log_betas, "log_betas"],
      [
        d.posteriorLogVarianceClipped,
        run.posterior_log_variance_clipped,
        "posterior_log_variance_clipped",
      ],
      [d.posteriorMeanCoef1, run.posterior_mean_coef1, "posterior_mean_coef1"],
      [d.posteriorMeanCoef2, run.posterior_mean_coef2, "posterior_mean_coef2"],
      [d.sqrtRecipAlphasCumprod, run.sqrt_recip_alphas_cumprod, "sqrt_recip_alphas_cumprod"],
      [d.sqrtRecipm1AlphasCumprod, run.sqrt_recipm1_alphas_cumprod, "sqrt_recipm1_alphas_cumprod"],
    ];
    // Both sides are float64 evaluations of the same formulas.
    for (const [ours, ref, name] of pairs) assertRelativeError(ours, ref, 1e-12, name);
  });
}
