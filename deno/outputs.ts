/**
 * File-level wrappers of the core's byte-level readers and encoders: images, plans, safetensors,
 * scheduler configs, prompt embeddings. Every output goes through `writeFileAtomic`.
 */

import { parsePlanJson, type PlanFile, planToJson } from "../src/compression/plan_file.ts";
import { OutputError, PlanError } from "../src/errors.ts";
import { encodeApng } from "../src/io/apng.ts";
import { encodePng } from "../src/io/png.ts";
import {
  type PromptEmbedding,
  promptEmbeddingTensors,
  readPromptEmbedding,
} from "../src/io/prompt_embeddings.ts";
import { encodeSafetensors, type TensorToWrite } from "../src/io/safetensors_writer.ts";
import { readSchedulerConfig, type SchedulerConfig } from "../src/sampling/scheduler_config.ts";
import { basename, dirname } from "node:path";
import { checkOutputPath, localFolder, openSafetensors, writeFileAtomic } from "./files.ts";
import type { JsonConfig } from "../src/io/config.ts";
import { readJsonConfig } from "../src/io/model_folder.ts";

/** Writes bytes (or text) to `path` atomically. */
export function writeBytes(path: string, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return writeFileAtomic(path, (write) => write(data));
}

/**
 * The file-writing form of an encoder: takes a path, then the encoder's own arguments. Encoding
 * finishes before the file is opened, so bad image arguments leave nothing behind.
 */
function encodingWriter<EncoderArgs extends unknown[]>(
  encode: (...args: EncoderArgs) => Promise<Uint8Array>,
): (path: string, ...args: EncoderArgs) => Promise<void> {
  return async (path, ...args) => await writeBytes(path, await encode(...args));
}

/** Encodes and writes a PNG file: `writePng(path, pixels, width, height, channels, options?)`. */
export const writePng: (path: string, ...image: Parameters<typeof encodePng>) => Promise<void> =
  encodingWriter(encodePng);

/** Encodes and writes an APNG: `writeApng(path, frames, width, height, channels, options?)`. */
export const writeApng: (
  path: string,
  ...animation: Parameters<typeof encodeApng>
) => Promise<void> = encodingWriter(encodeApng);

/** Writes `tensors` (sorted by name) and optional string metadata as a safetensors file. */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  return writeFileAtomic(path, (write) => encodeSafetensors(path, tensors, metadata, write));
}

/**
 * Writes a plan file (JSON), creating its folder. A plan can cost hours of calibration, so when
 * `path` cannot be written the plan is kept in a temporary file and the OutputError says where.
 */
export async function savePlan(path: string, plan: PlanFile): Promise<void> {
  const json = planToJson(plan);
  try {
    await checkOutputPath(path);
    await writeBytes(path, json);
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    let kept: string;
    try {
      kept = await Deno.makeTempFile({ prefix: "ditfastattn-plan-", suffix: ".json" });
      await writeBytes(kept, json);
    } catch {
      throw e;
    }
    throw new OutputError(`${e.message}; the plan was kept in ${kept}`);
  }
}

/** Reads and checks a plan file. */
export async function loadPlan(path: string): Promise<PlanFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new PlanError(`plan file ${path} cannot be read: ${(e as Error).message}`);
  }
  return parsePlanJson(text, path);
}

/** Reads `scheduler_config.json` (or any file of that form). */
export function readSchedulerConfigFile(path: string): Promise<SchedulerConfig> {
  return readSchedulerConfig(localFolder(dirname(path)), basename(path));
}

/** Reads one prompt's embeddings file and checks it against the caption width. */
export async function readPromptEmbeddingFile(
  path: string,
  captionChannels?: number,
): Promise<PromptEmbedding> {
  const file = await openSafetensors(path);
  try {
    return await readPromptEmbedding(file, captionChannels);
  } finally {
    file.close();
  }
}

/**
 * Writes one prompt's embeddings as a prompt file (`readPromptEmbeddingFile` reads it back),
 * atomically; `metadata` (e.g. the text it encodes) goes into the safetensors header.
 */
export function writePromptEmbeddingFile(
  path: string,
  prompt: PromptEmbedding,
  metadata?: Record<string, string>,
): Promise<void> {
  return writeSafetensors(path, promptEmbeddingTensors(prompt), metadata);
}

/** Reads a JSON config file (config.json and the like) as an object. */
export function readJsonFile(path: string): Promise<JsonConfig> {
  return readJsonConfig(localFolder(dirname(path)), basename(path));
}
