/**
 * Open-Sora v1.1's text stage (`scripts/inference.py` with `opensora/models/text_encoder/t5.py`):
 * each caption goes through `text_preprocessing` (DeepFloyd IF's `clean_caption`, twice: the
 * same function as PixArt's), is tokenized to the model's `model_max_length` tokens (200) and
 * encoded by T5-XXL with its mask. There is no negative prompt: the unconditional branch uses the
 * checkpoint's null caption `y_embedder.y_embedding` (see `videoConditioning`).
 */

import { OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import { readJsonConfig } from "../../src/io/model_folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import { encodeTextsOnce, type T5TextFolders, truncationNotice } from "../t5/text_encoder.ts";
import { preprocessCaption } from "../pixart/caption_cleaning.ts";
import { parseSTDiT2Config } from "./config.ts";

/** The text encoder, its tokenizer, and the transformer the captions are for. */
export interface STDiT2TextFolders extends T5TextFolders {
  transformer: Folder;
}

export interface STDiT2TextOptions {
  /** Tokens per caption (default: the model's model_max_length, 200 for Open-Sora v1.1). */
  maxLength?: number;
  /** Open-Sora's caption cleaning (default true, as its inference script); false: lower + strip. */
  cleanCaption?: boolean;
  /** Storage of the T5 weights on the GPU (default f32; Open-Sora runs T5 in f32). */
  dtype?: "f32" | "f16";
  /** Called after each distinct caption is encoded. */
  onEncode?: (done: number, total: number) => void;
}

export interface STDiT2PromptEmbeddings {
  prompts: PromptEmbedding[];
  maxLength: number;
  /** One line per caption truncated to the max length. */
  notices: string[];
}

/**
 * Loads T5 from `source` (a folder with `transformer/`, `text_encoder/` and `tokenizer/`, or the
 * three folders), encodes the captions and releases T5 again, before the transformer is loaded.
 */
export async function encodeSTDiT2Text(
  gpu: Gpu,
  source: Folder | STDiT2TextFolders,
  prompts: readonly string[],
  options: STDiT2TextOptions = {},
): Promise<STDiT2PromptEmbeddings> {
  const folders: STDiT2TextFolders = "textEncoder" in source ? source : {
    textEncoder: source.folder("text_encoder"),
    tokenizer: source.folder("tokenizer"),
    transformer: source.folder("transformer"),
  };
  if (prompts.length === 0) throw new OptionError("at least one prompt is needed");
  const configPath = folders.transformer.pathOf("config.json");
  const config = parseSTDiT2Config(
    await readJsonConfig(folders.transformer, "config.json"),
    configPath,
  );
  const maxLength = options.maxLength ?? config.modelMaxLength;
  if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > config.modelMaxLength) {
    throw new OptionError(
      `max length must be an integer in 2..${config.modelMaxLength} (the model's ` +
        `model_max_length), got ${maxLength}`,
    );
  }
  const clean = options.cleanCaption ?? true;
  const texts = prompts.map((text) => preprocessCaption(text, { clean }));
  const labels = prompts.map((text, i) => {
    const shown = text.length > 40 ? `${text.slice(0, 37)}...` : text;
    return `prompt ${i} ${JSON.stringify(shown)}`;
  });
  const encoded = await encodeTextsOnce(gpu, folders, texts, maxLength, {
    dtype: options.dtype,
    captionChannels: config.captionChannels,
    captionSource: configPath,
    labels,
    onProgress: options.onEncode,
  });
  return {
    prompts: encoded.embeddings,
    maxLength,
    notices: encoded.truncations.map((t) => truncationNotice(t, labels[t.index])),
  };
}
