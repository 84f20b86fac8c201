/** Text-to-latent sampling with PixArt from precomputed prompt embeddings, at any aspect ratio. */

import type { AttentionRuntime } from "../../src/compression/attention_runtime.ts";
import type { AttentionPlan } from "../../src/compression/plan.ts";
import { OptionError } from "../../src/errors.ts";
import { createScheduler } from "../../src/sampling/create_scheduler.ts";
import { checkSamplingFits } from "../../src/sampling/run_estimate.ts";
import {
  checkCfgScale,
  initialNoise,
  isGuided,
  loopHooks,
  type LoopResult,
  runSamplingLoop,
  type StepContext,
} from "../../src/sampling/sample_loop.ts";
import type { SamplerName, Scheduler } from "../../src/sampling/scheduler.ts";
import { Tensor } from "../../src/tensor.ts";
import { CaptionConditioning, type SizeConditions } from "../../src/nn/caption_conditioning.ts";
import type { PixArtModel } from "./model.ts";
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

export interface PixArtSampleOptions extends PixArtResolution {
  /** One prompt embedding per sample. */
  prompts: readonly PromptEmbedding[];
  /** The negative (or empty) prompt's embedding; needed when guidance is on. */
  negative?: PromptEmbedding;
  /** Denoising steps (default 20). */
  steps?: number;
  /** Guidance scale (default 4.5); ≤ 1 turns guidance off. */
  cfgScale?: number;
  /** Seed of the initial noise (default 0). Sample i uses stream (seed, i). */
  seed?: number;
  /** Default DPM-Solver++(2M), as the PixArt pipelines. */
  sampler?: SamplerName;
  scheduler?: Scheduler;
  plan?: AttentionPlan;
  runtime?: AttentionRuntime;
  /** Initial noise [B, C, h, w] values instead of the seeded draw. */
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
  beforeStep?: (context: StepContext<CaptionConditioning>) => Promise<void> | void;
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
  const { prompts, negative, steps = 20, cfgScale = 4.5, seed = 0 } = options;
  const sampler = options.sampler ?? "dpm-solver++";
  checkCfgScale(cfgScale);
  const guided = isGuided(cfgScale);
  checkPrompts(model, prompts, negative, guided);
  const grid = pixartLatentGrid(model, options);
  const batch = prompts.length;
  const perSample = model.inChannels * grid.latentHeight * grid.latentWidth;
  checkSamplingFits(model.gpu, {
    what: `PixArt at ${grid.height}×${grid.width} px`,
    samples: batch,
    modelBatch: guided ? 2 * batch : batch,
    latentShape: [model.inChannels, grid.latentHeight, grid.latentWidth],
    tokens: model.tokens(grid.latentHeight, grid.latentWidth),
    width: model.width,
  });
  const noise = initialNoise(options.noise, seed, batch, perSample);
  const conditioning = captionConditioning(model, prompts, guided ? negative : undefined, grid);
  try {
    return await runSamplingLoop(model, {
      noise,
      shape: [batch, model.inChannels, grid.latentHeight, grid.latentWidth],
      conditioning,
      cfgScale,
      scheduler: options.scheduler ??
        createScheduler({ sampler, steps, seed, samples: batch, valuesPerSample: perSample }),
      ...loopHooks(options),
    });
  } finally {
    conditioning.release();
  }
}
