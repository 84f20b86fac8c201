/**
 * Open-Sora STDiT2 (v1.1, text-to-video; see docs/STDIT.md): config, weights, model, sampling
 * from caption embeddings, the text stage (T5 captions), pipeline (transformer + per-frame VAE
 * decode) and the cost of a step.
 * @module
 */

export { parseSTDiT2Config, type STDiT2Config } from "./config.ts";
export { expectedSTDiT2Shapes } from "./weights.ts";
export { type STDiT2LoadOptions, STDiT2Model } from "./model.ts";
export { VideoConditioning, type VideoInfo } from "./conditioning.ts";
export { latentVideo, sampleSTDiT2, type STDiT2SampleOptions, type VideoSize } from "./sample.ts";
export {
  type GeneratedVideos,
  latentFrame,
  type STDiT2GenerateOptions,
  STDiT2Pipeline,
  type STDiT2PipelineLoadOptions,
} from "./pipeline.ts";
export { stdit2CostShape, stdit2PlanFit } from "./cost.ts";
export {
  encodeSTDiT2Text,
  type STDiT2PromptEmbeddings,
  type STDiT2TextFolders,
  type STDiT2TextOptions,
} from "./text.ts";
export { type PromptEmbedding, readPromptEmbedding } from "../../src/io/prompt_embeddings.ts";
