/**
 * DiT (class-conditional Diffusion Transformer, diffusers layout): config, weights, model,
 * sampling, pipeline (transformer + VAE + scheduler) and the cost of a step.
 * @module
 */

export { type DiTConfig, parseDiTConfig } from "./config.ts";
export { expectedDiTShapes } from "./weights.ts";
export { type DiTLoadOptions, DiTModel } from "./model.ts";
export { type DiTSampleOptions, sampleDiT } from "./sample.ts";
export {
  type ClassNames,
  type DiTGenerateOptions,
  type DiTGenerateResult,
  DiTPipeline,
  type DiTPipelineFolders,
  type DiTPipelineLoadOptions,
  type DiTPipelineParts,
  type StepProgress,
} from "./pipeline.ts";
export { ditCostShape, ditPlanFit } from "./cost.ts";
export {
  DIT_SCHEDULER_CONFIG,
  parseSchedulerConfig,
  type SchedulerConfig,
} from "../../src/sampling/scheduler_config.ts";
