/**
 * The captions of `video` and `video-calibrate`: text encoded by a T5 folder (`--text-encoder`,
 * `--tokenizer`) to the model's model_max_length (200 for Open-Sora v1.1), or embedding files.
 * No negative prompt: guidance uses the checkpoint's null caption.
 */

import { localFolder } from "../deno.ts";
import { STDiT2Pipeline } from "../models/stdit2/pipeline.ts";
import { OptionError } from "../src/errors.ts";
import type { Gpu } from "../src/gpu/context.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { captionOptions, PROMPT_OPTIONS, promptHelp, type PromptValues } from "./prompts.ts";

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
  const textEncoder = values["text-encoder"];
  if (values.tokenizer !== undefined && textEncoder === undefined) {
    throw new OptionError("--tokenizer goes with --text-encoder");
  }
  const captions = await captionOptions(values);
  if (captions.kind === "embeds") {
    return { count: captions.count, readEmbeddings: captions.readEmbeddings };
  }
  if (textEncoder === undefined) {
    throw new OptionError("text captions need a text encoder: --text-encoder DIR");
  }
  const texts = captions.texts;
  return {
    count: texts.length,
    texts,
    readEmbeddings: () => Promise.reject(new Error("text captions have no embedding files")),
    encode: async (gpu, modelDir) => {
      const encoded = await STDiT2Pipeline.encodePrompts(
        gpu,
        {
          textEncoder: localFolder(textEncoder),
          tokenizer: localFolder(values.tokenizer ?? textEncoder),
          transformer: localFolder(modelDir),
        },
        texts,
        { ...captions.text, dtype: captions.textDtype ?? dtype, onEncode: captions.onEncode },
      );
      await captions.onEncoded(encoded);
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
