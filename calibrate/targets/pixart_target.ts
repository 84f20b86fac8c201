/**
 * PixArt as a `compress()` target: caption embeddings as calibration data, the four DiTFastAttn
 * methods on the self-attention (attn1) of every block. PixArt samples at any size, and a plan's
 * decisions hold for one token grid, so a target is bound to one resolution: its config hash
 * covers the latent height and width (16×12 and 12×16 have the same token count but different
 * windows of neighbours).
 */

import type { CompressionTarget, SeededCalibration } from "../compression_target.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import type { CaptionConditioning } from "../../src/nn/caption_conditioning.ts";
import type { PixArtModel } from "../../models/pixart/model.ts";
import { pixartPlanFit } from "../../models/pixart/cost.ts";
import {
  checkPrompts,
  type LatentGrid,
  pixartLatentGrid,
  type PixArtResolution,
  samplePixArt,
} from "../../models/pixart/sample.ts";
import { checkPromptEmbedding, type PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import { SAMPLING_DEFAULTS } from "../../models/sampling_defaults.ts";
import { promptCalibrationCount, sizeMismatch } from "./prompt_target.ts";

export interface PixArtCalibration extends SeededCalibration {
  /** Calibration prompts, one sample each. */
  prompts: readonly PromptEmbedding[];
  /** The negative or empty prompt (needed when guidance is on). */
  negative?: PromptEmbedding;
}

export interface PixArtCompressedSampleOptions extends PixArtResolution {
  prompts: readonly PromptEmbedding[];
  negative?: PromptEmbedding;
  seed?: number;
  /** Must equal the plan's step count when given. */
  steps?: number;
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
}

function describe(grid: LatentGrid): string {
  return `${grid.height}×${grid.width} px (latent ${grid.latentHeight}×${grid.latentWidth})`;
}

/** PixArt at one image size (default the trained one) as a `compress()` target. */
export function pixartTarget(
  model: PixArtModel,
  resolution: PixArtResolution = {},
): CompressionTarget<PixArtCalibration, PixArtCompressedSampleOptions, CaptionConditioning> {
  const grid = pixartLatentGrid(model, resolution);
  const size = { height: grid.height, width: grid.width, vaeScaleFactor: grid.vaeScaleFactor };
  return {
    ...pixartPlanFit(model, grid),
    model,
    defaults: SAMPLING_DEFAULTS.pixart,
    checkCalibration(calib) {
      const channels = model.config.captionChannels;
      return promptCalibrationCount(calib.prompts, (prompts) => {
        for (const prompt of prompts) checkPromptEmbedding(prompt, channels);
        if (calib.negative) checkPromptEmbedding(calib.negative, channels);
      });
    },
    runCalibration(calib, run) {
      return samplePixArt(model, {
        prompts: calib.prompts,
        negative: calib.negative,
        ...size,
        ...run,
      });
    },
    sample(options, settings): Promise<LoopResult> {
      if (options.height !== undefined || options.width !== undefined) {
        const asked = pixartLatentGrid(model, { vaeScaleFactor: grid.vaeScaleFactor, ...options });
        if (asked.latentHeight !== grid.latentHeight || asked.latentWidth !== grid.latentWidth) {
          throw sizeMismatch(`at ${describe(grid)}`, describe(asked));
        }
      }
      checkPrompts(model, options.prompts, options.negative, settings.cfgScale > 1);
      return samplePixArt(model, {
        prompts: options.prompts,
        negative: options.negative,
        seed: options.seed,
        noise: options.noise,
        onStep: options.onStep,
        ...size,
        ...settings,
      });
    },
  };
}
