/**
 * Text → T5 caption embeddings, as the diffusion pipelines condition on them: the T5 tokenizer
 * pads or truncates each text to a fixed `maxLength` (`</s>` kept last, pad id 0, attention mask
 * 1 on the tokens and `</s>`), the encoder runs with that mask, and each text gets its
 * `last_hidden_state` [maxLength, d_model] with the mask: the `PromptEmbedding` the samplers and
 * the prompt-embedding files use. Padded rows are kept as the encoder computes them (diffusers
 * passes them on unchanged; the mask hides them from cross-attention).
 */

import { CheckpointError, OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import { readJsonConfig } from "../../src/io/model_folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import { releaseLinearCaches } from "../../src/ops/linear.ts";
import type { T5Tokenizer } from "../../src/text/t5_tokenizer.ts";
import { parseT5Config, type T5Config } from "./config.ts";
import { T5Encoder, type T5EncoderLoadOptions } from "./encoder.ts";
import { loadT5Tokenizer, type T5TokenizerFiles } from "./tokenizer_folder.ts";

/** Where a text encoder's two parts are: the `T5EncoderModel` folder and the tokenizer folder. */
export interface T5TextFolders {
  textEncoder: Folder;
  tokenizer: Folder;
}

export interface T5TextEncoderLoadOptions extends Omit<T5EncoderLoadOptions, "configName"> {
  /** Default true: on CPU adapters each weight is kept once (in the linear kernel's texture). */
  freePackedWeights?: boolean;
  /**
   * The caption width of the model the embeddings are for: d_model must equal it (checked from
   * the config, before any weight is loaded).
   */
  captionChannels?: number;
  /** What `captionChannels` belongs to, for the error ("transformer/config.json"). */
  captionSource?: string;
  /** The tokenizer, already read from `folders.tokenizer` (read again otherwise). */
  tokenizer?: T5TokenizerFiles;
}

/** A text that lost tokens to fit `maxLength`. */
export interface TextTruncation {
  /** Index of the text in the batch given to `encode`. */
  index: number;
  /** Tokens the text has, `</s>` included. */
  tokens: number;
  maxLength: number;
  /** The text of the dropped pieces (spaces restored). */
  dropped: string;
}

export interface T5EncodeTextsOptions {
  /** Called after each distinct text is encoded. */
  onProgress?: (done: number, total: number) => void;
  /** Names of the texts in `PromptEmbedding.source` (default: the text, shortened). */
  labels?: readonly string[];
}

export interface EncodedTexts {
  /** One per text, in order: [maxLength, d_model] and the mask. */
  embeddings: PromptEmbedding[];
  truncations: TextTruncation[];
}

/** The one-line notice for a truncated text (what the CLI prints). */
export function truncationNotice(t: TextTruncation, label = `text ${t.index}`): string {
  const dropped = t.dropped.length > 60 ? `${t.dropped.slice(0, 57)}...` : t.dropped;
  return `${label}: ${t.tokens} tokens, truncated to ${t.maxLength} (the text encoder's max ` +
    `length); dropped: ${JSON.stringify(dropped)}`;
}

function shortLabel(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 37)}...` : text;
  return `prompt ${JSON.stringify(shown)}`;
}

/**
 * Checks that the tokenizer and the encoder's embedding table belong together. Every id must
 * index the table, and T5 checkpoints pad the table to the next multiple of 128 (32100 ids →
 * 32128 rows), so more rows than that means the tokenizer of another model.
 */
export function checkTokenizerFitsEncoder(
  tokenizer: Pick<T5TokenizerFiles, "vocabSize" | "source">,
  config: T5Config,
  configPath: string,
): void {
  const ids = tokenizer.vocabSize;
  const rows = config.vocabSize;
  const padded = Math.ceil(ids / 128) * 128;
  if (rows < ids || rows > padded) {
    throw new CheckpointError(
      `${tokenizer.source} declares ${ids} token ids but ${configPath} has vocab_size ${rows} ` +
        `embedding rows (expected ${ids}..${padded}): the tokenizer and the text encoder are ` +
        `from different models`,
    );
  }
}

export class T5TextEncoder {
  #released = false;

  private constructor(
    readonly tokenizer: T5Tokenizer,
    readonly encoder: T5Encoder,
  ) {}

  /**
   * Loads the tokenizer, then the encoder's config, checks that they belong together, and only
   * then uploads the encoder's weights.
   */
  static async load(
    gpu: Gpu,
    folders: T5TextFolders,
    options: T5TextEncoderLoadOptions = {},
  ): Promise<T5TextEncoder> {
    const tokenizer = options.tokenizer ?? await loadT5Tokenizer(folders.tokenizer);
    const configPath = folders.textEncoder.pathOf("config.json");
    const config = parseT5Config(
      await readJsonConfig(folders.textEncoder, "config.json"),
      configPath,
    );
    if (options.captionChannels !== undefined) {
      checkEncoderWidth(config, configPath, options.captionChannels, options.captionSource);
    }
    checkTokenizerFitsEncoder(tokenizer, config, configPath);
    const encoder = await T5Encoder.load(gpu, folders.textEncoder, {
      dtype: options.dtype,
      embeddingRowsPerChunk: options.embeddingRowsPerChunk,
      freePackedWeights: options.freePackedWeights ?? true,
    });
    return new T5TextEncoder(tokenizer.tokenizer, encoder);
  }

  /** Composes a loaded tokenizer and encoder (checking that they belong together). */
  static fromParts(tokenizer: T5TokenizerFiles, encoder: T5Encoder): T5TextEncoder {
    checkTokenizerFitsEncoder(tokenizer, encoder.config, encoder.source);
    return new T5TextEncoder(tokenizer.tokenizer, encoder);
  }

  /** Width of the embeddings (d_model). */
  get width(): number {
    return this.encoder.config.dModel;
  }

  /**
   * Encodes each text (already cleaned as the pipeline wants) to `maxLength` tokens. Texts are
   * encoded one at a time, so the activations are those of one sequence; equal texts once.
   */
  async encode(
    texts: readonly string[],
    maxLength: number,
    options: T5EncodeTextsOptions = {},
  ): Promise<EncodedTexts> {
    if (this.#released) throw new OptionError("T5TextEncoder: used after release()");
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new OptionError(`max length must be a positive integer, got ${maxLength}`);
    }
    const distinct = [...new Set(texts)];
    const encoded = new Map<string, Omit<PromptEmbedding, "source">>();
    const truncations: TextTruncation[] = [];
    for (const [done, text] of distinct.entries()) {
      const padded = this.tokenizer.encodePadded([text], maxLength);
      const { lastHiddenState } = this.encoder.encode(
        padded.inputIds,
        padded.attentionMask,
        1,
        maxLength,
      );
      const embeds = await lastHiddenState.toFloat32();
      lastHiddenState.release();
      encoded.set(text, {
        length: maxLength,
        channels: this.width,
        embeds,
        mask: Float32Array.from(padded.attentionMask),
      });
      options.onProgress?.(done + 1, distinct.length);
    }
    texts.forEach((text, index) => {
      const { ids, pieces } = this.tokenizer.encode(text);
      if (ids.length <= maxLength) return;
      // The kept part ends with </s> in place of piece maxLength − 1.
      const dropped = pieces.slice(maxLength - 1, -1).join("").replaceAll("\u2581", " ").trim();
      truncations.push({ index, tokens: ids.length, maxLength, dropped });
    });
    const embeddings = texts.map((text, i) => ({
      source: options.labels?.[i] ?? shortLabel(text),
      ...encoded.get(text)!,
    }));
    return { embeddings, truncations };
  }

  /**
   * Frees the encoder's weights, the linear kernels' cached textures and the pooled buffers,
   * so the memory is free for the next model. (Other models' cached weight textures on the same
   * GPU are dropped too and packed again on their next use.)
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const gpu = this.encoder.gpu;
    this.encoder.release();
    releaseLinearCaches(gpu);
    gpu.flush();
    gpu.pool.trim();
  }
}

/**
 * Loads the text encoder, encodes `texts`, and releases it again before returning: the way to
 * keep T5 and a diffusion transformer from being in memory at the same time.
 */
export async function encodeTextsOnce(
  gpu: Gpu,
  folders: T5TextFolders,
  texts: readonly string[],
  maxLength: number,
  options: T5TextEncoderLoadOptions & T5EncodeTextsOptions = {},
): Promise<EncodedTexts> {
  const textEncoder = await T5TextEncoder.load(gpu, folders, options);
  try {
    return await textEncoder.encode(texts, maxLength, options);
  } finally {
    textEncoder.release();
  }
}

/** The encoder's width must be what the diffusion model's caption projection takes. */
export function checkEncoderWidth(
  config: T5Config,
  configPath: string,
  captionChannels: number,
  captionSource = "the model",
): void {
  if (config.dModel !== captionChannels) {
    throw new CheckpointError(
      `${configPath}: the text encoder's d_model is ${config.dModel} but ${captionSource} ` +
        `takes captions ${captionChannels} wide (caption_channels): not its text encoder`,
    );
  }
}
