/**
 * ditfastattn: Diffusion Transformers on WebGPU with DiTFastAttn post-training attention
 * compression (window attention with residual sharing, attention sharing across timesteps
 * and across the CFG halves), calibrated per layer and step by a greedy search.
 *
 * This entry runs wherever WebGPU does (Deno, browsers): models load from a `Folder` (a URL,
 * memory, or — with the Deno entry `./deno` — a folder on disk) or from tensor sources.
 *
 * @example
 * ```ts
 * import { compress, dit } from "@ditfastattn/ditfastattn";
 * import { getGpu, localFolder } from "@ditfastattn/ditfastattn/deno";
 * const model = await dit.DiTModel.load(await getGpu(), localFolder("assets/tiny-fmnist"));
 * const full = await dit.sampleDiT(model, { labels: [0, 7], steps: 20, seed: 1 });
 * const sampler = await compress(model, { count: 8 }, { threshold: 0.05, steps: 20 });
 * const fast = await sampler.sample({ labels: [0, 7], seed: 1 });
 * ```
 * @module
 */

export * as dit from "./models/dit/mod.ts";
export * as pixart from "./models/pixart/mod.ts";
export * as stdit2 from "./models/stdit2/mod.ts";
export * as t5 from "./models/t5/mod.ts";
export * as vae from "./models/vae/mod.ts";

export { getGpu, Gpu, type GpuOptions } from "./src/gpu/context.ts";
export { KernelChoices } from "./src/gpu/kernel_choice.ts";
export { type DType, Tensor } from "./src/tensor.ts";
export {
  CheckpointError,
  DeviceError,
  NumericsError,
  OptionError,
  OutputError,
  PlanError,
  ShapeError,
} from "./src/errors.ts";

export { compress, type CompressOptions } from "./calibrate/compress.ts";
export { CompressedSampler } from "./calibrate/compressed_sampler.ts";
export { ditTarget, pixartTarget, stdit2Target } from "./calibrate/targets/mod.ts";
export {
  checkPlanValue,
  parsePlanJson,
  type PlanFile,
  planToJson,
} from "./src/compression/plan_file.ts";
export type { AttentionMethod } from "./src/compression/methods.ts";

export { type Folder, memoryFolder, urlFolder } from "./src/io/folder.ts";
export { cachedFolder } from "./src/io/cached_folder.ts";
export { SafetensorsFile, type TensorSource } from "./src/io/safetensors.ts";
export { ShardedCheckpoint } from "./src/io/sharded_checkpoint.ts";
export { safetensorsBytes } from "./src/io/safetensors_writer.ts";
export { encodePng } from "./src/io/png.ts";
