/**
 * Text-to-video sampling with STDiT2 as Open-Sora v1.1 runs it: precomputed T5 caption
 * embeddings, batch [cond; null] with the checkpoint's null caption, guidance on the first three
 * ε channels, IDDPM (respaced DDPM with learned-range variance) over 100 steps.
 */

import { OptionError } from "../../src/errors.ts";
import { DdpmScheduler } from "../../src/sampling/ddpm.ts";
import { batchNoise } from "../../src/sampling/prng.ts";
import { isGuided, type LoopResult } from "../../src/sampling/sample_loop.ts";
import {
  type FamilySampleOptions,
  runFamilySampling,
  sampleSettings,
} from "../../src/nn/family_sampling.ts";
import { checkPromptEmbedding, type PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import type { STDiT2Model } from "./model.ts";
import { SAMPLING_DEFAULTS } from "../sampling_defaults.ts";
import { VideoConditioning } from "./conditioning.ts";

/** Pixels per latent of the SD VAE Open-Sora v1.1 decodes each frame with. */
export const STDIT2_VAE_SCALE = 8;

/** The video to generate; defaults are DiTFastAttn's Open-Sora setting. */
export interface VideoSize {
  /** Frames (default 16). */
  frames?: number;
  /** Pixel height and width (default 240 × 426). */
  height?: number;
  width?: number;
  /** Frame rate the model is conditioned on (default 24). */
  fps?: number;
  /** Pixels per latent (default 8). */
  vaeScaleFactor?: number;
}

/** A video size resolved to its latent: the model input is [B, C, frames, latentH, latentW]. */
export interface LatentVideo {
  frames: number;
  height: number;
  width: number;
  fps: number;
  vaeScaleFactor: number;
  latentHeight: number;
  latentWidth: number;
}

/**
 * Resolves and checks a video size. Like Open-Sora, the latent is ⌊pixels / 8⌋ (426 px → 53) and
 * the model pads it to whole patches; the decoded frames are latent·8 pixels.
 */
export function latentVideo(size: VideoSize = {}): LatentVideo {
  const {
    frames = 16,
    height = 240,
    width = 426,
    fps = 24,
    vaeScaleFactor = STDIT2_VAE_SCALE,
  } = size;
  const whole = (value: number, name: string, least = 1) => {
    if (!Number.isInteger(value) || value < least) {
      throw new OptionError(`${name} must be an integer ≥ ${least}, got ${value}`);
    }
  };
  whole(vaeScaleFactor, "VAE scale factor");
  whole(frames, "frame count");
  whole(height, "height (pixels)", vaeScaleFactor);
  whole(width, "width (pixels)", vaeScaleFactor);
  if (!(fps > 0) || !Number.isFinite(fps)) {
    throw new OptionError(`fps must be positive, got ${fps}`);
  }
  return {
    frames,
    height,
    width,
    fps,
    vaeScaleFactor,
    latentHeight: Math.floor(height / vaeScaleFactor),
    latentWidth: Math.floor(width / vaeScaleFactor),
  };
}

/**
 * Defaults: 100 steps, guidance 7, seed 0, "ddpm" (Open-Sora's IDDPM; DDIM and DPM-Solver++ drop
 * the variance channels).
 */
export interface STDiT2SampleOptions extends VideoSize, FamilySampleOptions<VideoConditioning> {
  /** One prompt embedding per sample ([L, caption_channels] with a mask of L entries). */
  prompts: readonly PromptEmbedding[];
  /** ε channels guidance applies to (default 3, Open-Sora's cfg_channel). */
  guidedChannels?: number;
}

/** Checks prompts against the model: width, and at most model_max_length tokens. */
export function checkVideoPrompts(model: STDiT2Model, prompts: readonly PromptEmbedding[]): void {
  if (prompts.length === 0) throw new OptionError("at least one prompt embedding is needed");
  const { captionChannels, modelMaxLength } = model.config;
  for (const prompt of prompts) {
    checkPromptEmbedding(prompt, captionChannels);
    if (prompt.length > modelMaxLength) {
      throw new OptionError(
        `${prompt.source}: ${prompt.length} caption tokens, the model takes at most ` +
          `${modelMaxLength} (model_max_length)`,
      );
    }
    if (!prompt.mask.some((m) => m !== 0)) {
      throw new OptionError(`${prompt.source}: the caption mask keeps no token`);
    }
  }
}

/**
 * The conditioning of a model batch: the prompts padded with masked zero tokens to
 * model_max_length and, when guided, the null caption (y_embedding) once per prompt, masked
 * like its prompt (Open-Sora repeats the mask over the batch).
 */
export function videoConditioning(
  model: STDiT2Model,
  prompts: readonly PromptEmbedding[],
  video: LatentVideo,
  guided: boolean,
): VideoConditioning {
  checkVideoPrompts(model, prompts);
  const { captionChannels: channels, modelMaxLength: tokens } = model.config;
  const rows = guided ? 2 * prompts.length : prompts.length;
  const captions = new Float32Array(rows * tokens * channels);
  const mask = new Float32Array(rows * tokens);
  prompts.forEach((p, b) => {
    captions.set(p.embeds, b * tokens * channels);
    mask.set(p.mask, b * tokens);
    if (guided) {
      const b2 = prompts.length + b;
      captions.set(model.weights.nullCaption, b2 * tokens * channels);
      mask.set(p.mask, b2 * tokens);
    }
  });
  return VideoConditioning.create(model.gpu, captions, mask, { batch: rows, tokens, channels }, {
    height: video.height,
    width: video.width,
    aspectRatio: video.height / video.width,
    frames: video.frames,
    fps: video.fps,
  });
}

/** Samples latent videos [B, inChannels, T, h, w] for the prompts. */
export async function sampleSTDiT2(
  model: STDiT2Model,
  options: STDiT2SampleOptions,
): Promise<LoopResult> {
  const { prompts } = options;
  const guidedChannels = options.guidedChannels ?? Math.min(3, model.inChannels);
  if (
    !Number.isInteger(guidedChannels) || guidedChannels < 0 || guidedChannels > model.inChannels
  ) {
    throw new OptionError(
      `guided channels must be an integer in 0..${model.inChannels}, got ${guidedChannels}`,
    );
  }
  const video = latentVideo(options);
  const batch = prompts.length;
  const shape = [batch, model.inChannels, video.frames, video.latentHeight, video.latentWidth];
  const settings = sampleSettings(options, SAMPLING_DEFAULTS.stdit2);
  const { steps, seed } = settings;
  const perSample = shape.slice(1).reduce((a, d) => a * d, 1);
  const grid = model.grid(video.frames, video.latentHeight, video.latentWidth);
  return await runFamilySampling(model, options, {
    what: `STDiT2 at ${video.frames} frames of ${video.height}×${video.width} px`,
    shape,
    tokens: grid.frames * grid.tokensPerFrame,
    settings,
    guidedChannels,
    familyScheduler: settings.sampler === "ddpm"
      ? () =>
        new DdpmScheduler(
          steps,
          (step) => batchNoise(seed, batch, perSample, step + 1),
          {},
          { float32Betas: true },
        )
      : undefined,
    conditioning: () => videoConditioning(model, prompts, video, isGuided(settings.cfgScale)),
  });
}
