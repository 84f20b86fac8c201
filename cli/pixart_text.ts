/**
 * The captions of `pixart` and `pixart-calibrate`: text with a negative caption, encoded by T5
 * (a pipeline folder's or `--text-encoder`), or embedding files with an optional negative one.
 */

import { readPromptEmbeddingFile } from "../deno.ts";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import type { PixArtPromptEmbeddings, PixArtTextFolders } from "../models/pixart/text.ts";
import { OptionError } from "../src/errors.ts";
import type { Gpu } from "../src/gpu/context.ts";
import type { Folder } from "../src/io/folder.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { captionOptions, type Captions, PROMPT_OPTIONS, promptHelp } from "./prompts.ts";

/** parseArgs entries of the caption options. */
export const PIXART_TEXT_OPTIONS = {
  ...PROMPT_OPTIONS,
  "negative-prompt": { type: "string" },
  negative: { type: "string" },
} as const;

/** The help lines of the caption options (`what` names one output). */
export function pixartTextHelp(what: string): string {
  const maxLength =
    "the pipeline's: 120 for PixArt-α, 300 for Σ;\n                       120 without --pipeline";
  return `${promptHelp(what, maxLength)}
  --negative-prompt T  the negative caption with text captions (default "")
  --negative FILE      the negative or empty caption's embeddings (with --prompt-embeds; required
                       when --cfg > 1)`;
}

export interface PixArtCaptions extends Captions {
  /**
   * Encodes the text captions (T5 loaded, run and released), the negative one when guided;
   * `dtype` is the transformer's.
   */
  encode: (
    gpu: Gpu,
    source: Folder | PixArtTextFolders,
    options: { guided: boolean; dtype: "f32" | "f16" },
  ) => Promise<PixArtPromptEmbeddings>;
  /** Reads the embedding files and --negative, checked against the model's caption width. */
  readEmbeddingFiles: (
    captionChannels: number,
  ) => Promise<{ prompts: PromptEmbedding[]; negative?: PromptEmbedding }>;
}

/** Checks the caption options (before anything is loaded). */
export async function pixartCaptions(
  values: Parameters<typeof captionOptions>[0] & { negative?: string },
): Promise<PixArtCaptions> {
  const captions = await captionOptions(values);
  if (captions.kind === "text" && values.negative !== undefined) {
    throw new OptionError("--negative FILE goes with --prompt-embeds; use --negative-prompt TEXT");
  }
  return {
    ...captions,
    encode: async (gpu, source, { guided, dtype }) => {
      const encoded = await PixArtPipeline.encodePrompts(gpu, source, captions.texts, {
        ...captions.text,
        negativePrompt: guided ? captions.negativeText : null,
        dtype: captions.textDtype ?? dtype,
        onEncode: captions.onEncode,
      });
      await captions.onEncoded(encoded);
      return encoded;
    },
    readEmbeddingFiles: async (captionChannels) => ({
      prompts: await captions.readEmbeddings(captionChannels),
      negative: values.negative === undefined
        ? undefined
        : await readPromptEmbeddingFile(values.negative, captionChannels),
    }),
  };
}
