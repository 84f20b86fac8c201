/**
 * File-level wrappers of the core's byte-level readers and encoders: images, plans, safetensors,
 * scheduler configs, prompt embeddings. Every output goes through `writeFileAtomic`.
 */

import { parsePlanJson, type PlanFile, planToJson } from "../src/compression/plan_file.ts";
import { OutputError, PlanError } from "../src/errors.ts";
import { type ApngOptions, encodeApng } from "../src/io/apng.ts";
import { encodePng, type PngChannels, type PngOptions } from "../src/io/png.ts";
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

/** Encodes and writes a PNG file. */
export async function writePng(
  path: string,
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
  options: PngOptions = {},
): Promise<void> {
  await writeBytes(path, await encodePng(pixels, width, height, channels, options));
}

/** Encodes and writes an animated PNG file. */
export async function writeApng(
  path: string,
  frames: readonly Uint8Array[],
  width: number,
  height: number,
  channels: PngChannels,
  options: ApngOptions = {},
): Promise<void> {
  await writeBytes(path, await encodeApng(frames, width, height, channels, options));
}

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
