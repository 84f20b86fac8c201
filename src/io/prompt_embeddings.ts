/**
 * Precomputed text-encoder outputs for one prompt: a safetensors file with `prompt_embeds`
 * [L, C] (or [1, L, C]) and `prompt_attention_mask` [L] (or [1, L]), as a T5 encoder run
 * elsewhere writes them. Several prompts become one padded caption batch.
 */

import { CheckpointError, OptionError } from "../errors.ts";
import type { TensorSource } from "./safetensors.ts";
import type { TensorToWrite } from "./safetensors_writer.ts";

export const EMBEDS_TENSOR = "prompt_embeds";
export const MASK_TENSOR = "prompt_attention_mask";

export interface PromptEmbedding {
  /** Where it came from (named in errors). */
  source: string;
  /** Text tokens L. */
  length: number;
  /** Embedding width C. */
  channels: number;
  /** [L, C] row-major. */
  embeds: Float32Array;
  /** [L]: 1 keep, 0 padding. */
  mask: Float32Array;
}

/** A leading batch axis of 1 is accepted and dropped. */
function withoutUnitBatch(shape: readonly number[], rank: number): number[] | null {
  if (shape.length === rank) return [...shape];
  if (shape.length === rank + 1 && shape[0] === 1) return shape.slice(1);
  return null;
}

async function readMask(file: TensorSource): Promise<Float32Array> {
  const { dtype } = file.info(MASK_TENSOR);
  if (dtype === "I64" || dtype === "I32") return Float32Array.from(await file.readInt(MASK_TENSOR));
  if (dtype === "BOOL" || dtype === "U8") return Float32Array.from(await file.readRaw(MASK_TENSOR));
  return await file.readFloat32(MASK_TENSOR);
}

/**
 * Reads one prompt's embeddings and checks them against the model's caption width, naming the
 * file and tensor in every error.
 */
export async function readPromptEmbedding(
  file: TensorSource,
  captionChannels?: number,
): Promise<PromptEmbedding> {
  const path = file.path;
  {
    for (const name of [EMBEDS_TENSOR, MASK_TENSOR]) {
      if (!file.has(name)) {
        throw new CheckpointError(
          `${path}: no tensor "${name}" (a prompt file holds "${EMBEDS_TENSOR}" [L, C] and ` +
            `"${MASK_TENSOR}" [L]; it has ${file.names().join(", ") || "none"})`,
        );
      }
    }
    const embedsShape = withoutUnitBatch(file.info(EMBEDS_TENSOR).shape, 2);
    if (!embedsShape) {
      throw new CheckpointError(
        `${path}: tensor "${EMBEDS_TENSOR}" must be [L, C] or [1, L, C], got ` +
          `[${file.info(EMBEDS_TENSOR).shape}]`,
      );
    }
    const maskShape = withoutUnitBatch(file.info(MASK_TENSOR).shape, 1);
    if (!maskShape) {
      throw new CheckpointError(
        `${path}: tensor "${MASK_TENSOR}" must be [L] or [1, L], got [${
          file.info(MASK_TENSOR).shape
        }]`,
      );
    }
    const [length, channels] = embedsShape;
    const embedding: PromptEmbedding = {
      source: path,
      length,
      channels,
      embeds: await file.readFloat32(EMBEDS_TENSOR),
      mask: await readMask(file),
    };
    if (maskShape[0] !== length) {
      throw new CheckpointError(
        `${path}: tensor "${MASK_TENSOR}" has ${maskShape[0]} entries but "${EMBEDS_TENSOR}" ` +
          `has ${length} tokens`,
      );
    }
    // Problems of a file are checkpoint problems, named with its path.
    checkPromptEmbedding(embedding, captionChannels, CheckpointError);
    return embedding;
  }
}

/** Checks sizes, mask values (0 or 1) and, when given, the caption width. */
export function checkPromptEmbedding(
  prompt: PromptEmbedding,
  captionChannels?: number,
  ErrorKind: new (message: string) => Error = OptionError,
): void {
  const { source, length, channels } = prompt;
  if (length < 1) throw new ErrorKind(`${source}: "${EMBEDS_TENSOR}" has no tokens (L = 0)`);
  if (prompt.embeds.length !== length * channels || prompt.mask.length !== length) {
    throw new ErrorKind(
      `${source}: "${EMBEDS_TENSOR}" must hold ${length}×${channels} values and ` +
        `"${MASK_TENSOR}" ${length}, got ${prompt.embeds.length} and ${prompt.mask.length}`,
    );
  }
  if (captionChannels !== undefined && channels !== captionChannels) {
    throw new ErrorKind(
      `${source}: "${EMBEDS_TENSOR}" is [${length}, ${channels}] but the model's ` +
        `caption_channels is ${captionChannels} (embeddings of another text encoder?)`,
    );
  }
  const bad = prompt.mask.findIndex((m) => m !== 0 && m !== 1);
  if (bad >= 0) {
    throw new ErrorKind(
      `${source}: "${MASK_TENSOR}"[${bad}] is ${prompt.mask[bad]}; mask entries must be 0 or 1`,
    );
  }
}

/**
 * The tensors of a prompt file for `prompt`, as `readPromptEmbedding` reads them back:
 * `prompt_embeds` F32 [1, L, C] and `prompt_attention_mask` I64 [1, L] (the layout of a T5
 * export made with transformers).
 */
export function promptEmbeddingTensors(prompt: PromptEmbedding): Record<string, TensorToWrite> {
  checkPromptEmbedding(prompt);
  return {
    [EMBEDS_TENSOR]: {
      dtype: "F32",
      shape: [1, prompt.length, prompt.channels],
      data: prompt.embeds,
    },
    [MASK_TENSOR]: {
      dtype: "I64",
      shape: [1, prompt.length],
      data: BigInt64Array.from(prompt.mask, (m) => BigInt(m)),
    },
  };
}

/** A caption batch: prompts padded with masked zero tokens to the longest length. */
export interface CaptionBatch {
  batch: number;
  length: number;
  channels: number;
  /** [B, L, C]. */
  embeds: Float32Array;
  /** [B, L]. */
  mask: Float32Array;
}

/**
 * Stacks prompts into one batch. Padding tokens are masked (score bias −10000), so they
 * contribute exp(−10000) ≈ 0 and a shorter prompt attends as if unpadded.
 */
export function stackPrompts(prompts: readonly PromptEmbedding[]): CaptionBatch {
  if (prompts.length === 0) throw new OptionError("at least one prompt embedding is needed");
  const channels = prompts[0].channels;
  for (const p of prompts) {
    if (p.channels !== channels) {
      throw new OptionError(
        `prompt embeddings differ in width: ${prompts[0].source} is ${channels} wide, ` +
          `${p.source} is ${p.channels}`,
      );
    }
  }
  const length = Math.max(...prompts.map((p) => p.length));
  const embeds = new Float32Array(prompts.length * length * channels);
  const mask = new Float32Array(prompts.length * length);
  prompts.forEach((p, b) => {
    embeds.set(p.embeds, b * length * channels);
    mask.set(p.mask, b * length);
  });
  return { batch: prompts.length, length, channels, embeds, mask };
}
