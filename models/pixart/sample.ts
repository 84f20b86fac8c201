/** Text-to-latent sampling with PixArt from precomputed prompt embeddings, at any aspect ratio. */

import { OptionError } from "../../src/errors.ts";
import { isGuided, type LoopResult } from "../../src/sampling/sample_loop.ts";
import {
  type FamilySampleOptions,
  runFamilySampling,
  sampleSettings,
} from "../../src/nn/family_sampling.ts";
import { Tensor } from "../../src/tensor.ts";
import { CaptionConditioning, type SizeConditions } from "../../src/nn/caption_conditioning.ts";
import type { PixArtModel } from "./model.ts";
import { SAMPLING_DEFAULTS } from "../sampling_defaults.ts";
import {
  checkPromptEmbedding,
  type PromptEmbedding,
  stackPrompts,
} from "../../src/io/prompt_embeddings.ts";

/** Pixels per latent of the VAE PixArt is trained with (SD's KL-f8). */
export const PIXART_VAE_SCALE = 8;

/** An image size in pixels and the VAE's pixels per latent. */
export interface PixArtResolution {
  /** Image height in pixels (default: the trained size, sample_size · vaeScaleFactor). */
  height?: number;
  width?: number;
  /** Pixels per latent (default 8). */
  vaeScaleFactor?: number;
}

/** The latent grid of a resolution, with every size rule checked. */
export interface LatentGrid {
  /** Pixels. */
  height: number;
  width: number;
  /** Latent height and width. */
  latentHeight: number;
  latentWidth: number;
  vaeScaleFactor: number;
}

/** Resolves and checks an image size: the latent must be a whole number of patches. */
export function pixartLatentGrid(
  model: Pick<PixArtModel, "config">,
  resolution: PixArtResolution = {},
): LatentGrid {
  const vaeScaleFactor = resolution.vaeScaleFactor ?? PIXART_VAE_SCALE;
  if (!Number.isInteger(vaeScaleFactor) || vaeScaleFactor < 1) {
    throw new OptionError(`VAE scale factor must be a positive integer, got ${vaeScaleFactor}`);
  }
  const { sampleSize, patchSize } = model.config;
  const unit = vaeScaleFactor * patchSize;
  const side = (value: number | undefined, name: string): number => {
    const pixels = value ?? sampleSize * vaeScaleFactor;
    if (!Number.isInteger(pixels) || pixels < 1) {
      throw new OptionError(`${name} must be a positive whole number of pixels, got ${pixels}`);
    }
    if (pixels % unit !== 0) {
      throw new OptionError(
        `${name} ${pixels} px gives a latent of ${pixels / vaeScaleFactor} that is not a whole ` +
          `number of ${patchSize}×${patchSize} patches: use a multiple of ${unit} px ` +
          `(VAE factor ${vaeScaleFactor} × patch ${patchSize})`,
      );
    }
    return pixels;
  };
  const height = side(resolution.height, "height");
  const width = side(resolution.width, "width");
  return {
    height,
    width,
    latentHeight: height / vaeScaleFactor,
    latentWidth: width / vaeScaleFactor,
    vaeScaleFactor,
  };
}

/** Defaults: 20 steps, guidance 4.5, seed 0, DPM-Solver++(2M) as the PixArt pipelines. */
export interface PixArtSampleOptions
  extends PixArtResolution, FamilySampleOptions<CaptionConditioning> {
  /** One prompt embedding per sample. */
  prompts: readonly PromptEmbedding[];
  /** The negative (or empty) prompt's embedding; needed when guidance is on. */
  negative?: PromptEmbedding;
}

/** Checks the prompts against the model and guidance setting (before any GPU work). */
export function checkPrompts(
  model: PixArtModel,
  prompts: readonly PromptEmbedding[],
  negative: PromptEmbedding | undefined,
  guided: boolean,
): void {
  if (prompts.length === 0) throw new OptionError("at least one prompt embedding is needed");
  const { captionChannels } = model.config;
  for (const prompt of prompts) checkPromptEmbedding(prompt, captionChannels);
  if (guided) {
    if (!negative) {
      throw new OptionError(
        "classifier-free guidance (cfg > 1) needs the negative or empty prompt's embeddings",
      );
    }
    checkPromptEmbedding(negative, captionChannels);
  }
}

/**
 * The caption conditioning of a model batch ([prompts; negative × B] when guided), projected
 * once so the sampling steps reuse it. The caller releases it.
 */
export function captionConditioning(
  model: PixArtModel,
  prompts: readonly PromptEmbedding[],
  negative: PromptEmbedding | undefined,
  grid: LatentGrid,
): CaptionConditioning {
  const rows = negative ? [...prompts, ...prompts.map(() => negative)] : [...prompts];
  const stacked = stackPrompts(rows);
  const { batch, length, channels } = stacked;
  // diffusers' PixArt pipelines condition on the pixel size and its ratio, per sample.
  const sizes: SizeConditions | undefined = model.config.useAdditionalConditions
    ? {
      resolution: rows.flatMap(() => [grid.height, grid.width]),
      aspectRatio: rows.map(() => Math.fround(grid.height / grid.width)),
    }
    : undefined;
  const raw = new CaptionConditioning(
    Tensor.fromArray(model.gpu, stacked.embeds, [batch, length, channels], "f32", "caption"),
    Tensor.fromArray(model.gpu, stacked.mask, [batch, length], "f32", "caption-mask"),
    sizes,
  );
  try {
    return model.projectCaption(raw);
  } finally {
    raw.release();
  }
}

/** Samples latents [B, inChannels, h, w] for the prompts. */
export async function samplePixArt(
  model: PixArtModel,
  options: PixArtSampleOptions,
): Promise<LoopResult> {
  const { prompts, negative } = options;
  const settings = sampleSettings(options, SAMPLING_DEFAULTS.pixart);
  const guided = isGuided(settings.cfgScale);
  checkPrompts(model, prompts, negative, guided);
  const grid = pixartLatentGrid(model, options);
  return await runFamilySampling(model, options, {
    what: `PixArt at ${grid.height}×${grid.width} px`,
    shape: [prompts.length, model.inChannels, grid.latentHeight, grid.latentWidth],
    tokens: model.tokens(grid.latentHeight, grid.latentWidth),
    settings,
    conditioning: () => captionConditioning(model, prompts, guided ? negative : undefined, grid),
  });
}
