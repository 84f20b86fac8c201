/**
 * STDiT2 as a `compress()` target: caption embeddings as calibration data, the four DiTFastAttn
 * methods on the spatial self-attention (`attn`) of every block, over each frame's S tokens
 * (temporal and cross-attention stay full). A plan holds for one video size: its config hash
 * covers the token grid, and `tokens` is S per frame.
 */

import type { CompressionTarget, SeededCalibration } from "../compression_target.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import type { STDiT2Model } from "../../models/stdit2/model.ts";
import type { VideoConditioning } from "../../models/stdit2/conditioning.ts";
import { stdit2PlanFit } from "../../models/stdit2/cost.ts";
import {
  checkVideoPrompts,
  type LatentVideo,
  latentVideo,
  sampleSTDiT2,
  type VideoSize,
} from "../../models/stdit2/sample.ts";
import { SAMPLING_DEFAULTS } from "../../models/sampling_defaults.ts";
import { promptCalibrationCount, sizeMismatch } from "./prompt_target.ts";

export interface STDiT2CalibrationData extends SeededCalibration {
  /** Calibration prompts, one sample each (DiTFastAttn's Open-Sora run uses 4). */
  prompts: readonly PromptEmbedding[];
}

export interface STDiT2CompressedSampleOptions {
  prompts: readonly PromptEmbedding[];
  seed?: number;
  /** Must equal the plan's step count when given. */
  steps?: number;
  noise?: Float32Array;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
}

function describe(video: LatentVideo): string {
  return `${video.frames} frames of ${video.height}×${video.width} px ` +
    `(latent ${video.latentHeight}×${video.latentWidth})`;
}

/** STDiT2 at one video size (Open-Sora's 16 × 240 × 426 by default) as a `compress()` target. */
export function stdit2Target(
  model: STDiT2Model,
  size: VideoSize = {},
): CompressionTarget<STDiT2CalibrationData, STDiT2CompressedSampleOptions, VideoConditioning> {
  const video = latentVideo(size);
  const videoOptions: VideoSize = {
    frames: video.frames,
    height: video.height,
    width: video.width,
    fps: video.fps,
    vaeScaleFactor: video.vaeScaleFactor,
  };
  return {
    ...stdit2PlanFit(model, video),
    model,
    defaults: SAMPLING_DEFAULTS.stdit2,
    checkCalibration: (calib) =>
      promptCalibrationCount(calib.prompts, (prompts) => checkVideoPrompts(model, prompts)),
    runCalibration(calib, run) {
      return sampleSTDiT2(model, {
        prompts: calib.prompts,
        ...videoOptions,
        ...run,
      });
    },
    sample(options, settings): Promise<LoopResult> {
      const asked = options as STDiT2CompressedSampleOptions & VideoSize;
      if (asked.frames !== undefined || asked.height !== undefined || asked.width !== undefined) {
        const other = latentVideo({ ...videoOptions, ...asked });
        if (
          other.frames !== video.frames || other.latentHeight !== video.latentHeight ||
          other.latentWidth !== video.latentWidth
        ) {
          throw sizeMismatch(`for ${describe(video)}`, describe(other));
        }
      }
      return sampleSTDiT2(model, {
        prompts: options.prompts,
        seed: options.seed,
        noise: options.noise,
        onStep: options.onStep,
        ...videoOptions,
        ...settings,
      });
    },
  };
}
