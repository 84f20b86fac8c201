/**
 * The captions of `video` and `video-calibrate`: text encoded by a T5 folder (`--text-encoder`,
 * `--tokenizer`) to the model's model_max_length (200 for Open-Sora v1.1), or embedding files.
 * No negative prompt: guidance uses the checkpoint's null caption.
 */

import { localFolder, readPromptEmbeddingFile } from "../deno.ts";
import { STDiT2Pipeline } from "../models/stdit2/pipeline.ts";
import { OptionError } from "../src/errors.ts";
import type { Gpu } from "../src/gpu/context.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { dtypeOption } from "./options.ts";
import {
  encodingProgress,
  PROMPT_OPTIONS,
  promptHelp,
  promptInput,
  type PromptValues,
  refuseTextOptions,
  saveEmbeddings,
  textOptions,
} from "./prompts.ts";

export const VIDEO_TEXT_OPTIONS = PROMPT_OPTIONS;

export const VIDEO_TEXT_HELP =
  `  --text-encoder DIR   transformers T5EncoderModel folder for text captions (Open-Sora v1.1:
                       DeepFloyd/t5-v1_1-xxl)
  --tokenizer DIR      its tokenizer folder, spiece.model or tokenizer.json (default: --text-encoder)
${promptHelp("video", "the model's model_max_length, 200 for Open-Sora v1.1")}`;

export interface VideoCaptions {
  /** Captions given (one video each). */
  count: number;
  texts?: string[];
  /** For text captions. */
  encode?: (gpu: Gpu, modelDir: string) => Promise<PromptEmbedding[]>;
  /** For embedding files, checked against the model's caption width. */
  readEmbeddings: (captionChannels: number) => Promise<PromptEmbedding[]>;
}

/** Checks the caption options (before anything is loaded). */
export async function videoCaptions(
  values: PromptValues & {
    "text-encoder"?: string;
    tokenizer?: string;
    "text-dtype"?: string;
  },
  dtype: "f32" | "f16",
): Promise<VideoCaptions> {
  const input = await promptInput(values);
  const text = textOptions(values);
  const textEncoder = values["text-encoder"];
  if (values.tokenizer !== undefined && textEncoder === undefined) {
    throw new OptionError("--tokenizer goes with --text-encoder");
  }
  if (input.kind === "embeds") {
    refuseTextOptions(values);
    return {
      count: input.paths.length,
      readEmbeddings: (channels) =>
        Promise.all(input.paths.map((p) => readPromptEmbeddingFile(p, channels))),
    };
  }
  if (textEncoder === undefined) {
    throw new OptionError("text captions need a text encoder: --text-encoder DIR");
  }
  const textDtype = values["text-dtype"] === undefined ? dtype : dtypeOption(values["text-dtype"]);
  const texts = input.texts;
  return {
    count: texts.length,
    texts,
    readEmbeddings: () => Promise.reject(new Error("text captions have no embedding files")),
    encode: async (gpu, modelDir) => {
      const progress = encodingProgress();
      const encoded = await STDiT2Pipeline.encodePrompts(
        gpu,
        {
          textEncoder: localFolder(textEncoder),
          tokenizer: localFolder(values.tokenizer ?? textEncoder),
          transformer: localFolder(modelDir),
        },
        texts,
        { ...text, dtype: textDtype, onEncode: progress.onEncode },
      );
      progress.done();
      for (const notice of encoded.notices) console.log(`notice: ${notice}`);
      if (values["save-embeddings"] !== undefined) {
        await saveEmbeddings(values["save-embeddings"], encoded.prompts, texts);
      }
      return encoded.prompts;
    },
  };
}

/** The embeddings of text captions (T5 loaded, run, released), or null for embedding files. */
export function captionEmbeddings(
  gpu: Gpu,
  captions: VideoCaptions,
  modelDir: string,
): Promise<PromptEmbedding[] | null> {
  return captions.encode ? captions.encode(gpu, modelDir) : Promise.resolve(null);
}
