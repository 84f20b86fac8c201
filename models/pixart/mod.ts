/**
 * PixArt-α/Σ (text-to-image DiT, diffusers layout): config, weights, model, sampling from
 * caption embeddings, pipeline (transformer + VAE) and the cost of a step.
 * @module
 */

export { parsePixArtConfig, type PixArtConfig } from "./config.ts";
export { expectedPixArtShapes } from "./weights.ts";
export { type PixArtLoadOptions, PixArtModel } from "./model.ts";
export {
  pixartLatentGrid,
  type PixArtResolution,
  type PixArtSampleOptions,
  samplePixArt,
} from "./sample.ts";
export {
  type PixArtGenerateOptions,
  type PixArtImages,
  PixArtPipeline,
  type PixArtPipelineLoadOptions,
} from "./pipeline.ts";
export { pixartCostShape, pixartPlanFit } from "./cost.ts";
export { CaptionConditioning, type SizeConditions } from "../../src/nn/caption_conditioning.ts";
