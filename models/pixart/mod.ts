/**
 * PixArt-α/Σ (text-to-image DiT, diffusers layout): config, weights, model, sampling from
 * caption embeddings, the text stage (caption cleaning, T5), pipeline (text encoder +
 * transformer + VAE) and the cost of a step.
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
  checkMaxLength,
  encodePixArtText,
  PIXART_DEFAULT_MAX_LENGTH,
  PIXART_MAX_LENGTHS,
  type PixArtEncodeOptions,
  type PixArtFolderIndex,
  type PixArtPromptEmbeddings,
  type PixArtTextFolders,
  type PixArtTextOptions,
  readPixArtFolderIndex,
} from "./text.ts";
export { type CaptionOptions, cleanCaption, preprocessCaption } from "./caption_cleaning.ts";
export {
  type PixArtGenerateOptions,
  type PixArtImages,
  PixArtPipeline,
  type PixArtPipelineLoadOptions,
} from "./pipeline.ts";
export { pixartCostShape, pixartPlanFit } from "./cost.ts";
export { CaptionConditioning, type SizeConditions } from "../../src/nn/caption_conditioning.ts";
export { type PromptEmbedding, readPromptEmbedding } from "../../src/io/prompt_embeddings.ts";
