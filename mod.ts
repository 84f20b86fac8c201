/**
 * ditfastattn: Diffusion Transformers on WebGPU with DiTFastAttn post-training attention
 * compression (window attention with residual sharing, attention sharing across timesteps
 * and across the CFG halves), calibrated per layer and step by a greedy search.
 *
 * @example
 * ```ts
 * import { compress, DiTModel, getGpu, sampleDiT } from "@ditfastattn/ditfastattn";
 * const model = await DiTModel.load(await getGpu(), "assets/tiny-fmnist");
 * const full = await sampleDiT(model, { labels: [0, 7], steps: 20, seed: 1 });
 * const sampler = await compress(model, { count: 8 }, { threshold: 0.05, steps: 20 });
 * const fast = await sampler.sample({ labels: [0, 7], seed: 1 });
 * ```
 * @module
 */

export { getGpu, Gpu, type GpuOptions, type KernelCall } from "./src/gpu/context.ts";
export { type DType, Tensor } from "./src/tensor.ts";
export { CheckpointError, DeviceError, OptionError, PlanError, ShapeError } from "./src/errors.ts";

export { type DiTLoadOptions, DiTModel } from "./models/dit/model.ts";
export { type DiTConfig, parseDiTConfig } from "./models/dit/config.ts";
export { type DiTSampleOptions, sampleDiT } from "./models/dit/sample.ts";
export {
  type DiTGenerateOptions,
  type DiTGenerateResult,
  DiTPipeline,
  type DiTPipelineFolders,
  type DiTPipelineLoadOptions,
} from "./models/dit/pipeline.ts";
export { VaeDecoder, type VaeLoadOptions } from "./models/vae/model.ts";
export { type PixArtLoadOptions, PixArtModel } from "./models/pixart/model.ts";
export { parsePixArtConfig, type PixArtConfig } from "./models/pixart/config.ts";
export { CaptionConditioning, type SizeConditions } from "./src/nn/caption_conditioning.ts";
export {
  type PixArtResolution,
  type PixArtSampleOptions,
  samplePixArt,
} from "./models/pixart/sample.ts";
export { generatePixArtImages, type PixArtImages } from "./models/pixart/pipeline.ts";
export {
  type PromptEmbedding,
  readPromptEmbedding,
  stackPrompts,
} from "./src/io/prompt_embeddings.ts";
export {
  pixartAtResolution,
  type PixArtCalibration,
  type PixArtCompressedSampleOptions,
} from "./calibrate/targets/pixart.ts";
export { parseVaeConfig, type VaeConfig } from "./models/vae/config.ts";
export { type STDiT2LoadOptions, STDiT2Model } from "./models/stdit2/model.ts";
export { parseSTDiT2Config, type STDiT2Config } from "./models/stdit2/config.ts";
export { VideoConditioning, type VideoInfo } from "./models/stdit2/conditioning.ts";
export {
  latentVideo,
  sampleSTDiT2,
  type STDiT2SampleOptions,
  type VideoSize,
} from "./models/stdit2/sample.ts";
export { type GeneratedVideos, generateVideos } from "./models/stdit2/pipeline.ts";
export {
  stdit2AtVideoSize,
  type STDiT2CalibrationData,
  type STDiT2CompressedSampleOptions,
} from "./calibrate/targets/stdit2.ts";
export {
  DIT_SCHEDULER_CONFIG,
  parseSchedulerConfig,
  readSchedulerConfig,
  type SchedulerConfig,
} from "./src/sampling/scheduler_config.ts";

export {
  type CalibrationData,
  type CompressedSampleOptions,
  ditCompressionTarget,
} from "./calibrate/targets/dit.ts";
export { type CalibrationProgress, compress, type CompressOptions } from "./calibrate/compress.ts";
export { type CalibrationLog, CompressedSampler } from "./calibrate/compressed_sampler.ts";
export type {
  Compressible,
  CompressionTarget,
  PlanSettings,
  SeededCalibration,
} from "./calibrate/compression_target.ts";
export {
  checkPlanFits,
  loadPlan,
  type PlanFile,
  savePlan,
  toXDiTPlan,
} from "./calibrate/plan_file.ts";
export type { Decision, SearchCounters, Trial } from "./calibrate/greedy_search.ts";

export {
  ATTENTION_METHODS,
  type AttentionMethod,
  CANDIDATE_METHODS,
} from "./src/compression/methods.ts";
export {
  type AttentionPlan,
  fullPlan,
  methodHistogram,
  type PlanCost,
  planCost,
  validatePlan,
} from "./src/compression/plan.ts";
export { AttentionRuntime } from "./src/compression/attention_runtime.ts";

export { SAMPLER_NAMES, type SamplerName, type Scheduler } from "./src/sampling/scheduler.ts";
export { batchNoise, gaussianNoise } from "./src/sampling/prng.ts";
export type { LoopResult } from "./src/sampling/sample_loop.ts";

export { SafetensorsFile, type TensorSource } from "./src/io/safetensors.ts";
export { ShardedCheckpoint } from "./src/io/sharded_checkpoint.ts";
export { writeSafetensors } from "./src/io/safetensors_writer.ts";
export { encodePng, writePng } from "./src/io/png.ts";
