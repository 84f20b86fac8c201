/**
 * The Deno entry: files and folders on disk for the runtime-neutral core (`mod.ts`), and the
 * WebGPU set-up of a headless Deno process.
 *
 * @example
 * ```ts
 * import { dit } from "@ditfastattn/ditfastattn";
 * import { getGpu, localFolder, writePng } from "@ditfastattn/ditfastattn/deno";
 * const model = await dit.DiTModel.load(await getGpu(), localFolder("assets/tiny-fmnist"));
 * ```
 * @module
 */

export { getGpu, prepareDenoWebGpu } from "./deno/webgpu.ts";
export { loadKernelChoices, saveKernelChoices } from "./deno/kernel_choices.ts";
export {
  checkOutputFolder,
  checkOutputPath,
  localFolder,
  openCheckpoint,
  openFileReader,
  openSafetensors,
  writeFileAtomic,
} from "./deno/files.ts";
export {
  loadPlan,
  readJsonFile,
  readPromptEmbeddingFile,
  readSchedulerConfigFile,
  savePlan,
  writeApng,
  writeBytes,
  writePng,
  writePromptEmbeddingFile,
  writeSafetensors,
} from "./deno/outputs.ts";
