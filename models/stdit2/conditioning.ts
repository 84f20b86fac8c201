/**
 * What an STDiT2 forward pass is conditioned on, per batch element: T5 caption embeddings with
 * their token mask, and the video's pixel size, aspect ratio, frame count and frame rate.
 */

import { OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/tensor.ts";

/** Size and timing of the video a sample is generated for (Open-Sora's model_args). */
export interface VideoInfo {
  /** Pixel height and width of the decoded frames (the size embedder's inputs). */
  height: number;
  width: number;
  /** height / width unless given. */
  aspectRatio?: number;
  /** Frames of the latent video (num_frames). */
  frames: number;
  fps: number;
}

export class VideoConditioning {
  private constructor(
    /** Caption embeddings [B, L, captionChannels] (text-encoder output, before y_embedder). */
    readonly captions: Tensor,
    /** [B, L] f32: 1 keeps a caption token, 0 drops it. */
    readonly mask: Tensor,
    /** One entry per batch element. */
    readonly info: readonly Required<VideoInfo>[],
  ) {}

  get batch(): number {
    return this.captions.shape[0];
  }

  /**
   * Uploads captions [B·L·channels values] and masks [B·L values, nonzero = keep]; `info` has
   * one entry per batch element or one for all.
   */
  static create(
    gpu: Gpu,
    captions: Float32Array,
    mask: ArrayLike<number>,
    shape: { batch: number; tokens: number; channels: number },
    info: VideoInfo | readonly VideoInfo[],
  ): VideoConditioning {
    const { batch, tokens, channels } = shape;
    if (captions.length !== batch * tokens * channels) {
      throw new OptionError(
        `captions: ${captions.length} values do not fill [${batch}, ${tokens}, ${channels}]`,
      );
    }
    if (mask.length !== batch * tokens) {
      throw new OptionError(
        `caption mask: ${mask.length} values for ${batch} caption(s) of ${tokens} tokens ` +
          `(caption length and mask length must agree)`,
      );
    }
    const keep = Float32Array.from(mask, (m) => (m !== 0 ? 1 : 0));
    for (let b = 0; b < batch; b++) {
      if (!keep.subarray(b * tokens, (b + 1) * tokens).some((m) => m === 1)) {
        throw new OptionError(`caption mask of batch element ${b} keeps no token`);
      }
    }
    const infos = Array.isArray(info) ? info : Array(batch).fill(info);
    if (infos.length !== batch) {
      throw new OptionError(`video info: ${infos.length} entries for a batch of ${batch}`);
    }
    const complete = infos.map((v: VideoInfo, b: number) => checkInfo(v, b));
    return new VideoConditioning(
      Tensor.fromArray(gpu, captions, [batch, tokens, channels], "f32", "captions"),
      Tensor.fromArray(gpu, keep, [batch, tokens], "f32", "caption-mask"),
      complete,
    );
  }

  release(): void {
    this.captions.release();
    this.mask.release();
  }
}

function checkInfo(info: VideoInfo, index: number): Required<VideoInfo> {
  const aspectRatio = info.aspectRatio ?? info.height / info.width;
  const values = { ...info, aspectRatio };
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new OptionError(`video info of batch element ${index}: ${key} must be positive`);
    }
  }
  return values;
}
