/** facebook/DiT-XL-2-256's scheduler/scheduler_config.json (diffusers 0.12), for the tests. */
export const DIT_XL_SCHEDULER_JSON: Readonly<Record<string, unknown>> = {
  _class_name: "DDIMScheduler",
  _diffusers_version: "0.12.0.dev0",
  beta_end: 0.02,
  beta_schedule: "linear",
  beta_start: 0.0001,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: "epsilon",
  set_alpha_to_one: true,
  steps_offset: 0,
  trained_betas: null,
};
