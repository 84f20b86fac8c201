/**
 * Prompt inputs shared by the text-to-image and text-to-video commands: captions as text
 * (`--prompt TEXT`, repeatable, or `--prompts-file FILE`, one per line) or as precomputed
 * embedding files (`--prompt-embeds FILES`), the text-stage options, and `--save-embeddings`.
 */

import { join } from "node:path";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { OptionError } from "../src/errors.ts";
import { dtypeOption, listOption, numberOption } from "./options.ts";
import { ProgressBar } from "./progress.ts";
import { readPromptEmbeddingFile, writePromptEmbeddingFile } from "../deno.ts";

/** parseArgs entries of the prompt options. */
export const PROMPT_OPTIONS = {
  prompt: { type: "string", multiple: true },
  "prompts-file": { type: "string" },
  "prompt-embeds": { type: "string" },
  "max-length": { type: "string" },
  "no-clean-caption": { type: "boolean", default: false },
  "save-embeddings": { type: "string" },
  "text-encoder": { type: "string" },
  tokenizer: { type: "string" },
  "text-dtype": { type: "string" },
} as const;

/** The help lines of the prompt options (`what` names one output: "image", "video"). */
export function promptHelp(what: string, maxLength: string): string {
  return `  --prompt TEXT        a caption, one ${what} each (repeat the option for more)
  --prompts-file FILE  captions, one per line (UTF-8; blank lines are skipped)
  --prompt-embeds FILES  precomputed caption embeddings instead of text: safetensors files
                       ("prompt_embeds" [L, C], "prompt_attention_mask" [L]), comma-separated
  --max-length N       caption tokens, longer captions are truncated with a notice
                       (default ${maxLength})
  --no-clean-caption   lower-case and strip the captions instead of diffusers' clean_caption
  --save-embeddings DIR  write each encoded caption as DIR/prompt-N.safetensors (and
                       DIR/negative.safetensors), to pass later with --prompt-embeds
  --text-dtype f32|f16 T5 weight storage on the GPU (default: --dtype)`;
}

export interface PromptValues {
  prompt?: string[];
  "prompts-file"?: string;
  "prompt-embeds"?: string;
  "max-length"?: string;
  "no-clean-caption"?: boolean;
  "save-embeddings"?: string;
}

export type PromptInput =
  | { kind: "text"; texts: string[] }
  | { kind: "embeds"; paths: string[] };

/**
 * The captions of a prompts file: one per line, `\r\n` or `\n`, blank lines and a byte-order
 * mark skipped. A folder, an unreadable file, invalid UTF-8 or no caption is an OptionError.
 */
export async function readPromptsFile(path: string): Promise<string[]> {
  let bytes: Uint8Array;
  try {
    if ((await Deno.stat(path)).isDirectory) {
      throw new OptionError(`--prompts-file ${path} is a folder, not a text file`);
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof OptionError) throw e;
    throw new OptionError(`--prompts-file ${path} cannot be read (${(e as Error).message})`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const lines: string[] = [];
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    try {
      lines.push(decoder.decode(bytes.subarray(start, end)));
    } catch {
      throw new OptionError(`--prompts-file ${path}: line ${line} is not valid UTF-8`);
    }
    start = end + 1;
  }
  const prompts = lines
    .map((line, i) => (i === 0 ? line.replace(/^\uFEFF/, "") : line).replace(/\r$/, ""))
    .filter((line) => line.trim() !== "");
  if (prompts.length === 0) throw new OptionError(`--prompts-file ${path} holds no caption`);
  return prompts;
}

/**
 * Which captions were given. `--prompt` values that all end in `.safetensors` are read as
 * embedding files (the form these commands took before they read text).
 */
export async function promptInput(values: PromptValues): Promise<PromptInput> {
  const given = [
    values.prompt ? "--prompt" : null,
    values["prompts-file"] !== undefined ? "--prompts-file" : null,
    values["prompt-embeds"] !== undefined ? "--prompt-embeds" : null,
  ].filter((x) => x !== null);
  if (given.length === 0) {
    throw new OptionError(
      "a caption is required: --prompt TEXT, --prompts-file or --prompt-embeds",
    );
  }
  if (given.length > 1) throw new OptionError(`give one of ${given.join(", ")}, not several`);
  if (values["prompt-embeds"] !== undefined) {
    const paths = listOption(values["prompt-embeds"]);
    if (paths.length === 0) throw new OptionError("--prompt-embeds lists no file");
    return { kind: "embeds", paths };
  }
  if (values.prompt) {
    const paths = values.prompt.flatMap(listOption);
    if (paths.length > 0 && paths.every((p) => p.endsWith(".safetensors"))) {
      return { kind: "embeds", paths };
    }
    return { kind: "text", texts: values.prompt };
  }
  return { kind: "text", texts: await readPromptsFile(values["prompts-file"]!) };
}

/** Options that only mean something with text captions. */
const TEXT_ONLY = [
  "negative-prompt",
  "save-embeddings",
  "max-length",
  "no-clean-caption",
  "text-encoder",
  "tokenizer",
  "text-dtype",
] as const;

/** Refuses text-stage options given with embedding files (they would be ignored). */
export function refuseTextOptions(
  values: Partial<Record<(typeof TEXT_ONLY)[number], string | boolean>>,
): void {
  const given = TEXT_ONLY.filter((k) => values[k] !== undefined && values[k] !== false);
  if (given.length > 0) {
    throw new OptionError(
      `${given.map((k) => `--${k}`).join(", ")} go with text captions, not embedding files`,
    );
  }
}

/** The text-stage options (checked before anything is loaded). */
export function textOptions(values: PromptValues): { maxLength?: number; cleanCaption: boolean } {
  const raw = values["max-length"];
  const maxLength = raw === undefined ? undefined : numberOption(raw, "max-length", 0);
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 2)) {
    throw new OptionError(`--max-length must be an integer ≥ 2, got ${raw}`);
  }
  return { maxLength, cleanCaption: !values["no-clean-caption"] };
}

/** A progress bar for the text encoder, created on the first report. */
export function encodingProgress(): {
  onEncode: (done: number, total: number) => void;
  done: () => void;
} {
  let bar: ProgressBar | null = null;
  return {
    onEncode: (done, total) => {
      bar ??= new ProgressBar("encoding", total, "prompts");
      bar.update(done);
    },
    done: () => bar?.done(),
  };
}

/**
 * Writes the encoded captions as prompt files (`prompt-N.safetensors`, `negative.safetensors`)
 * with the text they encode in the header, and prints how to reuse them.
 */
export async function saveEmbeddings(
  dir: string,
  prompts: readonly PromptEmbedding[],
  texts: readonly string[],
  negative?: { embedding: PromptEmbedding; text: string },
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const path = join(dir, `prompt-${i}.safetensors`);
    await writePromptEmbeddingFile(path, prompt, { text: texts[i] });
    paths.push(path);
  }
  let reuse = `--prompt-embeds ${paths.join(",")}`;
  if (negative) {
    const path = join(dir, "negative.safetensors");
    await writePromptEmbeddingFile(path, negative.embedding, { text: negative.text });
    reuse += ` --negative ${path}`;
  }
  console.log(`saved the caption embeddings in ${dir}; reuse them with ${reuse}`);
}

/** What a text encoder made of the captions. */
export interface EncodedCaptions {
  prompts: readonly PromptEmbedding[];
  negative?: PromptEmbedding;
  notices: readonly string[];
}

/** The caption options of a command, checked. */
export interface Captions {
  kind: PromptInput["kind"];
  /** Captions given (one output each). */
  count: number;
  /** The text captions; empty for embedding files. */
  texts: string[];
  /** --negative-prompt, "" when not given. */
  negativeText: string;
  /** The text-stage options. */
  text: { maxLength?: number; cleanCaption: boolean };
  /** T5 weight storage; undefined: as the transformer's. */
  textDtype?: "f32" | "f16";
  /** The T5 progress bar's report. */
  onEncode: (done: number, total: number) => void;
  /** Ends the progress bar, prints T5's truncation notices, saves the embeddings if asked. */
  onEncoded: (encoded: EncodedCaptions) => Promise<void>;
  /** Reads the embedding files, checked against the model's caption width. */
  readEmbeddings: (captionChannels: number) => Promise<PromptEmbedding[]>;
}

/**
 * Reads the caption options (before anything is loaded); text-stage options given with
 * embedding files are refused.
 */
export async function captionOptions(
  values: PromptValues & Partial<Record<(typeof TEXT_ONLY)[number], string | boolean>> & {
    "negative-prompt"?: string;
    "text-dtype"?: string;
  },
): Promise<Captions> {
  const input = await promptInput(values);
  const text = textOptions(values);
  if (input.kind === "embeds") refuseTextOptions(values);
  const textDtype = values["text-dtype"] === undefined
    ? undefined
    : dtypeOption(values["text-dtype"]);
  const texts = input.kind === "text" ? input.texts : [];
  const paths = input.kind === "embeds" ? input.paths : [];
  const negativeText = values["negative-prompt"] ?? "";
  const progress = encodingProgress();
  return {
    kind: input.kind,
    count: texts.length + paths.length,
    texts,
    negativeText,
    text,
    textDtype,
    onEncode: progress.onEncode,
    onEncoded: async (encoded) => {
      progress.done();
      for (const notice of encoded.notices) console.log(`notice: ${notice}`);
      if (values["save-embeddings"] !== undefined) {
        await saveEmbeddings(
          values["save-embeddings"],
          encoded.prompts,
          texts,
          encoded.negative ? { embedding: encoded.negative, text: negativeText } : undefined,
        );
      }
    },
    readEmbeddings: (channels) =>
      Promise.all(paths.map((path) => readPromptEmbeddingFile(path, channels))),
  };
}
