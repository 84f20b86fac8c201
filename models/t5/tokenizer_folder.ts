/**
 * A T5 tokenizer from its folder, as transformers ships it beside the encoder (`tokenizer/` of a
 * diffusers pipeline): `spiece.model` (the SentencePiece model itself, preferred: it is the
 * reference the `tokenizers` conversion was made from) or else `tokenizer.json`, with
 * `tokenizer_config.json` for the number of `<extra_id_N>` sentinels.
 */

import { CheckpointError, isLibraryError } from "../../src/errors.ts";
import { type Folder, readText } from "../../src/io/folder.ts";
import { T5Tokenizer } from "../../src/text/t5_tokenizer.ts";

/** transformers' `T5Tokenizer` appends this many sentinels when the config does not say. */
const DEFAULT_EXTRA_IDS = 100;

export interface T5TokenizerFiles {
  tokenizer: T5Tokenizer;
  /**
   * Ids the tokenizer declares: every piece plus the `extra_ids` sentinels (spiece.model), or
   * every token of tokenizer.json. What the encoder's embedding table must cover.
   */
  vocabSize: number;
  /** The file the tokenizer was read from (for messages). */
  source: string;
}

function wrap(path: string, what: string, error: unknown): CheckpointError {
  if (isLibraryError(error)) return error as CheckpointError;
  return new CheckpointError(`${path}: not a valid ${what} (${(error as Error).message})`);
}

/** `folder/name` parsed; a read or parse failure is a CheckpointError naming the file. */
async function readJson(folder: Folder, name: string): Promise<unknown> {
  try {
    return JSON.parse(await readText(folder, name));
  } catch (e) {
    throw wrap(folder.pathOf(name), "JSON file", e);
  }
}

/** `extra_ids` of tokenizer_config.json (100 when absent, as transformers' T5Tokenizer). */
async function extraIds(folder: Folder): Promise<number> {
  if ((await folder.kind("tokenizer_config.json")) !== "file") return DEFAULT_EXTRA_IDS;
  const path = folder.pathOf("tokenizer_config.json");
  const config = await readJson(folder, "tokenizer_config.json");
  const value = (config as Record<string, unknown> | null)?.["extra_ids"];
  if (value === undefined) return DEFAULT_EXTRA_IDS;
  if (!Number.isInteger(value) || (value as number) < 0) {
    throw new CheckpointError(`${path}: "extra_ids" must be a non-negative integer, got ${value}`);
  }
  return value as number;
}

/**
 * Reads the tokenizer of `folder`: `spiece.model` when present (a corrupt one is an error, not a
 * reason to fall back), else `tokenizer.json`. Every problem is a CheckpointError naming the file.
 */
export async function loadT5Tokenizer(folder: Folder): Promise<T5TokenizerFiles> {
  if ((await folder.kind("spiece.model")) === "file") {
    const path = folder.pathOf("spiece.model");
    const bytes = await folder.read("spiece.model");
    let tokenizer: T5Tokenizer;
    try {
      tokenizer = T5Tokenizer.fromSentencePiece(bytes, path);
    } catch (e) {
      throw wrap(path, "SentencePiece model", e);
    }
    return { tokenizer, vocabSize: tokenizer.vocabSize + await extraIds(folder), source: path };
  }
  if ((await folder.kind("tokenizer.json")) === "file") {
    const path = folder.pathOf("tokenizer.json");
    const json = await readJson(folder, "tokenizer.json");
    let tokenizer: T5Tokenizer;
    try {
      tokenizer = T5Tokenizer.fromTokenizerJson(json, path);
    } catch (e) {
      throw wrap(path, "tokenizer.json", e);
    }
    return { tokenizer, vocabSize: tokenizer.vocabSize, source: path };
  }
  const exists = (await folder.list().catch(() => null)) !== null;
  throw new CheckpointError(
    `tokenizer folder ${folder.location} ${
      exists ? "has" : "does not exist or has"
    } neither spiece.model nor tokenizer.json`,
  );
}
