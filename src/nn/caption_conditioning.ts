/**
 * What a text-conditioned model (PixArt) is conditioned on for one model batch: caption
 * embeddings with their key mask, and the optional per-sample size conditions. Under guidance
 * the batch is [cond; uncond], like every model here.
 */

import { ShapeError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";

/** PixArt-α 1024 px micro-conditions, one entry per batch element. */
export interface SizeConditions {
  /** (height, width) in pixels per sample: [h₀, w₀, h₁, w₁, …]. */
  resolution: readonly number[];
  /** height / width per sample (given, not derived: pipelines round it). */
  aspectRatio: readonly number[];
}

export class CaptionConditioning {
  /**
   * `caption` is [B, L, captionChannels] (text-encoder output), or [B, L, C] already through
   * the model's caption projection when `projected`; `mask` is f32 [B, L], 1 keep / 0 drop.
   * Takes ownership of both tensors.
   */
  constructor(
    readonly caption: Tensor,
    readonly mask: Tensor,
    readonly sizes?: SizeConditions,
    readonly projected = false,
  ) {
    const [batch, length] = caption.shape;
    if (caption.shape.length !== 3 || caption.dtype !== "f32") {
      throw new ShapeError(
        `caption: expected f32 [B, L, C], got ${caption.dtype} [${caption.shape}]`,
      );
    }
    const maskOk = mask.dtype === "f32" && mask.shape.length === 2 && mask.shape[0] === batch &&
      mask.shape[1] === length;
    if (!maskOk) {
      throw new ShapeError(
        `caption mask: expected f32 [${batch}, ${length}] for caption [${caption.shape}], ` +
          `got ${mask.dtype} [${mask.shape}]`,
      );
    }
    if (sizes) {
      if (sizes.resolution.length !== 2 * batch || sizes.aspectRatio.length !== batch) {
        throw new ShapeError(
          `size conditions: expected ${batch} (height, width) pairs and ${batch} aspect ratios, ` +
            `got ${sizes.resolution.length} values and ${sizes.aspectRatio.length}`,
        );
      }
    }
  }

  get batch(): number {
    return this.caption.shape[0];
  }

  /** Text tokens per sample (L). */
  get length(): number {
    return this.caption.shape[1];
  }

  release(): void {
    this.caption.release();
    this.mask.release();
  }
}
