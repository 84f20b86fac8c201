/**
 * PixArt's text stage, as diffusers' `PixArtAlphaPipeline` / `PixArtSigmaPipeline.encode_prompt`
 * run it: each caption is preprocessed (`clean_caption`, default on in `__call__`), tokenized to
 * `max_sequence_length` tokens (120 for α, 300 for Σ), encoded by T5 with its attention mask; the
 * negative prompt (default "") goes through the same steps at the same length. The embeddings
 * keep all max_sequence_length rows with the mask (diffusers no longer trims them).
 */

import { CheckpointError, OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import { type Folder, readText } from "../../src/io/folder.ts";
import { readJsonConfig } from "../../src/io/model_folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import { parseT5Config } from "../t5/config.ts";
import {
  checkEncoderWidth,
  checkTokenizerFitsEncoder,
  encodeTextsOnce,
  type T5TextEncoderLoadOptions,
  type T5TextFolders,
  truncationNotice,
} from "../t5/text_encoder.ts";
import { loadT5Tokenizer, type T5TokenizerFiles } from "../t5/tokenizer_folder.ts";
import type { PixArtConfig } from "./config.ts";
import { preprocessCaption } from "./caption_cleaning.ts";

/** diffusers' `max_sequence_length` default of each PixArt pipeline class. */
export const PIXART_MAX_LENGTHS: Readonly<Record<string, number>> = {
  PixArtAlphaPipeline: 120,
  PixArtSigmaPipeline: 300,
};

/** Without a model_index.json naming the pipeline: PixArt-α's 120. */
export const PIXART_DEFAULT_MAX_LENGTH = 120;

/** What a pipeline folder's model_index.json (or, without one, its sub-folders) says. */
export interface PixArtFolderIndex {
  /** `_class_name` of model_index.json, when there is one. */
  className?: string;
  /** The pipeline's max_sequence_length default (see PIXART_MAX_LENGTHS). */
  maxLength: number;
  /** The text parts, when the folder has both. */
  text?: T5TextFolders;
  /** Otherwise why not (the message of the error raised when text is given). */
  textMissing?: string;
}

/** A component entry of model_index.json: ["library", "Class"], or [null, null] when absent. */
function listedComponent(index: Record<string, unknown>, name: string): boolean | undefined {
  if (!Object.hasOwn(index, name)) return undefined;
  const entry = index[name];
  return Array.isArray(entry) && entry.length === 2 && entry.every((x) => x !== null);
}

/**
 * Reads `model_index.json` when present (it must name a PixArt pipeline) and finds the text
 * encoder and tokenizer sub-folders. Missing text parts are an error only when text is encoded
 * (a folder without them still generates from embedding files).
 */
export async function readPixArtFolderIndex(root: Folder): Promise<PixArtFolderIndex> {
  let index: Record<string, unknown> | undefined;
  let className: string | undefined;
  if ((await root.kind("model_index.json")) === "file") {
    const path = root.pathOf("model_index.json");
    try {
      index = JSON.parse(await readText(root, "model_index.json"));
    } catch (e) {
      throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof index !== "object" || index === null || Array.isArray(index)) {
      throw new CheckpointError(`${path}: not a JSON object`);
    }
    const name = index["_class_name"];
    if (typeof name !== "string" || !/^PixArt/.test(name)) {
      throw new CheckpointError(
        `${path}: "_class_name" is ${JSON.stringify(name)}, not a PixArt pipeline ` +
          `(${Object.keys(PIXART_MAX_LENGTHS).join(" or ")})`,
      );
    }
    className = name;
  }
  // Derived classes (e.g. PixArtSigmaPAGPipeline) keep their base pipeline's length.
  const maxLength = className === undefined
    ? PIXART_DEFAULT_MAX_LENGTH
    : PIXART_MAX_LENGTHS[className] ??
      (className.includes("Sigma")
        ? PIXART_MAX_LENGTHS.PixArtSigmaPipeline
        : PIXART_DEFAULT_MAX_LENGTH);
  const encoderListed = index ? listedComponent(index, "text_encoder") : undefined;
  const hasEncoder = encoderListed !== false &&
    (await root.folder("text_encoder").kind("config.json")) === "file";
  const tokenizer = root.folder("tokenizer");
  const hasTokenizer = (await tokenizer.kind("spiece.model")) === "file" ||
    (await tokenizer.kind("tokenizer.json")) === "file";
  let textMissing: string | undefined;
  if (!hasEncoder) {
    textMissing = encoderListed
      ? `${root.location}: model_index.json lists "text_encoder" but text_encoder/config.json ` +
        `is missing`
      : `${root.location} has no text encoder (text_encoder/config.json)`;
  } else if (!hasTokenizer) {
    textMissing = `${root.location} has text_encoder/ but no tokenizer/spiece.model or ` +
      `tokenizer/tokenizer.json`;
  }
  return {
    className,
    maxLength,
    text: textMissing ? undefined : { textEncoder: root.folder("text_encoder"), tokenizer },
    textMissing,
  };
}

export interface PixArtTextOptions {
  /** The negative prompt (default "", as diffusers); null: none (guidance off). */
  negativePrompt?: string | null;
  /** Tokens per caption (default: the pipeline's, 120 for α and 300 for Σ). */
  maxLength?: number;
  /** diffusers' `clean_caption` (default true); false: lower-case and strip only. */
  cleanCaption?: boolean;
  /** Called after each distinct caption is encoded. */
  onEncode?: (done: number, total: number) => void;
}

export interface PixArtPromptEmbeddings {
  prompts: PromptEmbedding[];
  /** The negative prompt's embedding (absent with `negativePrompt: null`). */
  negative?: PromptEmbedding;
  maxLength: number;
  /** One line per caption that lost tokens to max length (nothing is dropped silently). */
  notices: string[];
}

/** Checks a max length option: an integer ≥ 2 (one token and `</s>`). */
export function checkMaxLength(value: number): number {
  if (!Number.isInteger(value) || value < 2) {
    throw new OptionError(`max length must be an integer ≥ 2 (a token and </s>), got ${value}`);
  }
  return value;
}

/**
 * Loads the T5 encoder, encodes the captions and the negative prompt, and releases the encoder
 * before returning (so the transformer can be loaded into the memory it used).
 */
export async function encodePixArtText(
  gpu: Gpu,
  folders: T5TextFolders,
  prompts: readonly string[],
  options: PixArtTextOptions & T5TextEncoderLoadOptions & { maxLength: number },
): Promise<PixArtPromptEmbeddings> {
  if (prompts.length === 0) throw new OptionError("at least one prompt is needed");
  const bad = prompts.findIndex((p) => typeof p !== "string");
  if (bad >= 0) throw new OptionError(`prompt ${bad} is not a string`);
  const maxLength = checkMaxLength(options.maxLength);
  const clean = options.cleanCaption ?? true;
  const negative = options.negativePrompt === undefined ? "" : options.negativePrompt;
  const raw = negative === null ? [...prompts] : [...prompts, negative];
  const texts = raw.map((text) => preprocessCaption(text, { clean }));
  const labels = raw.map((text, i) => {
    const shown = text.length > 40 ? `${text.slice(0, 37)}...` : text;
    return `${i < prompts.length ? `prompt ${i}` : "negative prompt"} ${JSON.stringify(shown)}`;
  });
  const encoded = await encodeTextsOnce(gpu, folders, texts, maxLength, {
    ...options,
    labels,
    onProgress: options.onEncode,
  });
  const notices = encoded.truncations.map((t) => truncationNotice(t, labels[t.index]));
  return {
    prompts: encoded.embeddings.slice(0, prompts.length),
    negative: negative === null ? undefined : encoded.embeddings[prompts.length],
    maxLength,
    notices,
  };
}

/** The text stage of a pipeline folder, checked against the transformer at load. */
export interface PixArtTextStage {
  folders: T5TextFolders;
  tokenizer: T5TokenizerFiles;
  maxLength: number;
  captionChannels: number;
  captionSource: string;
  dtype?: "f32" | "f16";
}

/** The sub-folders `encodePrompts` takes when there is no pipeline folder. */
export interface PixArtTextFolders extends T5TextFolders {
  /** The transformer folder: its caption_channels is checked against the encoder's width. */
  transformer?: Folder;
}

export interface PixArtEncodeOptions extends PixArtTextOptions {
  /** Storage of the T5 weights on the GPU (default f32). */
  dtype?: "f32" | "f16";
}

/** Reads and checks the text parts against the transformer config (no weights loaded). */
export async function loadPixArtTextStage(
  folders: T5TextFolders,
  transformer: { config: PixArtConfig; path: string } | undefined,
  maxLength: number,
  dtype: "f32" | "f16" | undefined,
): Promise<PixArtTextStage> {
  const tokenizer = await loadT5Tokenizer(folders.tokenizer);
  const configPath = folders.textEncoder.pathOf("config.json");
  const t5 = parseT5Config(await readJsonConfig(folders.textEncoder, "config.json"), configPath);
  if (transformer) {
    checkEncoderWidth(t5, configPath, transformer.config.captionChannels, transformer.path);
  }
  checkTokenizerFitsEncoder(tokenizer, t5, configPath);
  return {
    folders,
    tokenizer,
    maxLength,
    captionChannels: transformer?.config.captionChannels ?? t5.dModel,
    captionSource: transformer?.path ?? configPath,
    dtype,
  };
}

export async function readModelConfig<T>(
  folder: Folder,
  parse: (raw: Record<string, unknown>, path: string) => T,
): Promise<{ config: T; path: string }> {
  const path = folder.pathOf("config.json");
  return { config: parse(await readJsonConfig(folder, "config.json"), path), path };
}

/** Runs a text stage: T5 loaded, run over every caption, released. */
export function runPixArtTextStage(
  gpu: Gpu,
  stage: PixArtTextStage,
  prompts: readonly string[],
  options: PixArtTextOptions,
): Promise<PixArtPromptEmbeddings> {
  return encodePixArtText(gpu, stage.folders, prompts, {
    ...options,
    maxLength: options.maxLength ?? stage.maxLength,
    tokenizer: stage.tokenizer,
    captionChannels: stage.captionChannels,
    captionSource: stage.captionSource,
    dtype: stage.dtype,
  });
}
