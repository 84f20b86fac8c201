/** diffusers scheduler configs: what is honoured, what is refused (no GPU needed). */

import { deepStrictEqual, strictEqual } from "node:assert";
import { CheckpointError, OptionError } from "../src/errors.ts";
import { DdimScheduler } from "../src/sampling/ddim.ts";
import { DdpmScheduler } from "../src/sampling/ddpm.ts";
import { DpmSolverScheduler } from "../src/sampling/dpm_solver.ts";
import {
  chooseSampler,
  DIT_SCHEDULER_CONFIG,
  isDiTSchedule,
  parseSchedulerConfig,
  schedulerFromConfig,
} from "../src/sampling/scheduler_config.ts";
import { assertThrows } from "./asserts.ts";
import { DIT_XL_SCHEDULER_JSON as DIT_CONFIG } from "./dit_scheduler_config.ts";

const request = { steps: 10, seed: 0, samples: 1, valuesPerSample: 4 };

Deno.test("scheduler config: DiT's own file gives the default DDIM schedule", () => {
  const config = parseSchedulerConfig(DIT_CONFIG, "scheduler_config.json");
  strictEqual(config.sampler, "ddim");
  deepStrictEqual(config.schedule, DIT_SCHEDULER_CONFIG.schedule);
  strictEqual(isDiTSchedule(config), true);
  const scheduler = schedulerFromConfig(config, request);
  deepStrictEqual(scheduler.timesteps, new DdimScheduler(10).timesteps);
});

Deno.test("scheduler config: β range and training steps reach every sampler", () => {
  const schedule = { trainSteps: 500, betaStart: 2e-4, betaEnd: 0.012 };
  const config = parseSchedulerConfig(
    { ...DIT_CONFIG, num_train_timesteps: 500, beta_start: 2e-4, beta_end: 0.012 },
    "s.json",
  );
  strictEqual(isDiTSchedule(config), false);
  const ddim = schedulerFromConfig(config, { ...request, sampler: "ddim" }) as DdimScheduler;
  deepStrictEqual(ddim.timesteps, new DdimScheduler(10, schedule).timesteps);
  strictEqual(ddim.timesteps[0], 450);
  const dpm = schedulerFromConfig(config, { ...request, sampler: "dpm-solver++" });
  deepStrictEqual(
    (dpm as DpmSolverScheduler).schedule,
    new DpmSolverScheduler(10, schedule).schedule,
  );
  const ddpm = schedulerFromConfig(config, { ...request, sampler: "ddpm" }) as DdpmScheduler;
  const reference = new DdpmScheduler(10, () => new Float32Array(4), schedule);
  deepStrictEqual(ddpm.diffusion.betas, reference.diffusion.betas);
  // A different β range changes the coefficients, not only the timesteps.
  const plain = new DdpmScheduler(10, () => new Float32Array(4));
  strictEqual(ddpm.diffusion.betas[3] === plain.diffusion.betas[3], false);
});

Deno.test("scheduler config: the class picks the default sampler", () => {
  const dpm = parseSchedulerConfig(
    {
      _class_name: "DPMSolverMultistepScheduler",
      algorithm_type: "dpmsolver++",
      solver_order: 2,
      solver_type: "midpoint",
      lower_order_final: true,
      timestep_spacing: "linspace",
      variance_type: null,
    },
    "s.json",
  );
  strictEqual(chooseSampler(dpm), "dpm-solver++");
  strictEqual(chooseSampler(dpm, "ddim"), "ddim");
  const euler = parseSchedulerConfig({ _class_name: "EulerDiscreteScheduler" }, "e.json");
  assertThrows(() => chooseSampler(euler), OptionError, "EulerDiscreteScheduler");
  strictEqual(chooseSampler(euler, "ddpm"), "ddpm");
});

Deno.test("scheduler config: unsupported settings are refused with an OptionError naming the key", () => {
  const refused: [Record<string, unknown>, string][] = [
    [{ beta_schedule: "scaled_linear" }, `"beta_schedule": "scaled_linear"`],
    [{ beta_schedule: "squaredcos_cap_v2" }, "beta_schedule"],
    [{ prediction_type: "v_prediction" }, "prediction_type"],
    [{ clip_sample: true }, "clip_sample"],
    [{ thresholding: true }, "thresholding"],
    [{ set_alpha_to_one: false }, "set_alpha_to_one"],
    [{ steps_offset: 1 }, "steps_offset"],
    [{ timestep_spacing: "trailing" }, "timestep_spacing"],
    [{ rescale_betas_zero_snr: true }, "rescale_betas_zero_snr"],
    [{ trained_betas: [0.1, 0.2] }, "trained_betas"],
    [{ beta_start: 0.03, beta_end: 0.02 }, "beta_start ≤ beta_end"],
    [{ num_train_timesteps: 1 }, "num_train_timesteps"],
    [{ _class_name: "DPMSolverMultistepScheduler", algorithm_type: "dpmsolver" }, "algorithm_type"],
    [{ _class_name: "DPMSolverMultistepScheduler", use_karras_sigmas: true }, "use_karras_sigmas"],
    [{ _class_name: "DPMSolverMultistepScheduler", solver_order: 3 }, "solver_order"],
  ];
  for (const [change, fragment] of refused) {
    assertThrows(
      () => parseSchedulerConfig({ ...DIT_CONFIG, ...change }, "scheduler_config.json"),
      OptionError,
      fragment,
    );
  }
  // A wrongly typed value is a malformed file, not an unsupported setting.
  assertThrows(
    () => parseSchedulerConfig({ ...DIT_CONFIG, beta_start: "0.0001" }, "s.json"),
    CheckpointError,
    "beta_start",
  );
  // The ddpm sampler uses the learned variance; a fixed one in the file is refused for it.
  const fixed = parseSchedulerConfig(
    { _class_name: "DDPMScheduler", variance_type: "fixed_small", clip_sample: false },
    "d.json",
  );
  assertThrows(() => chooseSampler(fixed, "ddpm"), OptionError, "variance_type");
  strictEqual(chooseSampler(fixed, "ddim"), "ddim");
});
