/**
 * `video`: text-to-video with an Open-Sora STDiT2 folder, a VAE folder and captions (text, with
 * a T5 text encoder folder, or precomputed embeddings) → an animated PNG per caption and a
 * contact sheet of every frame.
 */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { join } from "node:path";
import { commandValues } from "./args.ts";
import { stdit2PlanFit } from "../models/stdit2/cost.ts";
import { STDiT2Pipeline } from "../models/stdit2/pipeline.ts";
import { latentVideo, STDIT2_VAE_SCALE } from "../models/stdit2/sample.ts";
import { parseVaeConfig, upscaleFactor } from "../models/vae/config.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { GenerationProgress } from "./progress.ts";
import { sheetPath, videoPaths, writeContactSheet, writeVideoApng } from "./video_files.ts";
import { numberOption, requireOption, SAMPLING_OPTIONS } from "./options.ts";
import { samplingSettings } from "./settings.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { logPlanCost, warnIfLongSampling } from "./estimate.ts";
import {
  captionEmbeddings,
  VIDEO_TEXT_HELP,
  VIDEO_TEXT_OPTIONS,
  videoCaptions,
} from "./video_text.ts";
import { checkOutputPath, getGpu, localFolder, readJsonFile } from "../deno.ts";

const HELP = `deno task video [options]
  --model DIR          Open-Sora STDiT2 folder (config.json + safetensors) (required)
  --vae DIR            diffusers AutoencoderKL folder, decodes each frame (required)
${VIDEO_TEXT_HELP}
  --frames N           frames (default 16)
  --fps N              frame rate the model is conditioned on and the animation plays at (default 24)
  --height PX          frame height in pixels (default 240)
  --width PX           frame width in pixels (default 426; the latent is ⌊px / VAE factor⌋)
  --steps N            denoising steps (default 100)
  --cfg S              guidance scale 0 … ${MAX_CFG_SCALE}, ≤1 turns guidance off (default 7)
  --guided-channels N  ε channels guidance applies to (default 3, as Open-Sora)
  --seed N             noise seed, an integer 0 … ${MAX_SEED} (default 0)
  --sampler NAME       ${SAMPLER_NAMES.join(" | ")} (default ddpm = Open-Sora's IDDPM)
  --plan FILE          compression plan calibrated for this model and video size (video-calibrate)
  --dtype f32|f16      weight storage on the GPU (default f32)
  --out FILE           animated PNG (default out/video.png; several prompts: out/video-0.png, …)
  --sheet FILE         contact sheet PNG, a row per video (default: --out with -sheet)`;

/** The video-size options shared by `video` and `video-calibrate`. */
export const VIDEO_SIZE_OPTIONS = {
  frames: { type: "string" },
  fps: { type: "string" },
  height: { type: "string" },
  width: { type: "string" },
} as const;

/** Reads the size options (pixels; the latent is ⌊px / vaeScaleFactor⌋). */
export function videoSizeOptions(
  values: { frames?: string; fps?: string; height?: string; width?: string },
) {
  return {
    frames: numberOption(values.frames, "frames", 16),
    fps: numberOption(values.fps, "fps", 24),
    height: numberOption(values.height, "height", 240),
    width: numberOption(values.width, "width", 426),
  };
}

/** Pixels per latent of the VAE in `folder` (read from its config alone), else SD's 8. */
export async function vaeScaleFactor(folder: string | undefined): Promise<number> {
  if (folder === undefined) return STDIT2_VAE_SCALE;
  const path = join(folder, "config.json");
  return upscaleFactor(parseVaeConfig(await readJsonFile(path), path));
}

export async function videoCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    model: { type: "string" },
    vae: { type: "string" },
    ...VIDEO_TEXT_OPTIONS,
    ...VIDEO_SIZE_OPTIONS,
    ...SAMPLING_OPTIONS,
    "guided-channels": { type: "string" },
    out: { type: "string", default: "out/video.png" },
    sheet: { type: "string" },
  }, HELP);
  if (!values) return;
  // Option errors come before loading anything or touching the GPU.
  const modelDir = requireOption(values.model, "model");
  const vaeDir = requireOption(values.vae, "vae");
  const { dtype, requested, resolved } = await samplingSettings(values, SAMPLING_DEFAULTS.stdit2);
  const captions = await videoCaptions(values, dtype);
  const size = videoSizeOptions(values);
  const guidedChannels = numberOption(values["guided-channels"], "guided-channels", 3);
  const paths = videoPaths(values.out!, captions.count);
  const sheet = values.sheet ?? sheetPath(values.out!);
  for (const path of [...paths, sheet]) await checkOutputPath(path);
  const video = { ...size, vaeScaleFactor: await vaeScaleFactor(vaeDir) };
  latentVideo(video); // checks the sizes before loading any weights

  const gpu = await getGpu();
  // Text captions are encoded (and T5 released) before the transformer is loaded.
  const encoded = await captionEmbeddings(gpu, captions, modelDir);
  const pipeline = await STDiT2Pipeline.fromFolders(gpu, {
    transformer: localFolder(modelDir),
    vae: localFolder(vaeDir),
  }, { dtype });
  try {
    const model = pipeline.transformer;
    const prompts = encoded ?? await captions.readEmbeddings(model.config.captionChannels);
    const { costShape } = stdit2PlanFit(model, latentVideo(video));
    if (requested.plan) logPlanCost(values.plan!, requested.plan, costShape);
    warnIfLongSampling(gpu, costShape, model.layers, resolved, prompts.length);
    const progress = new GenerationProgress("sampling", "frames");
    const result = await pipeline.generate({
      prompts,
      ...size,
      ...requested,
      guidedChannels,
      onStep: progress.onStep,
      onDecode: progress.decoded,
    });
    progress.done();
    for (const [i, video] of result.videos.entries()) {
      await writeVideoApng(paths[i], video, result.height, result.width, size.fps);
    }
    await writeContactSheet(sheet, result.videos, result.height, result.width);
    const samplingSeconds = result.latents.stepSeconds.reduce((a, b) => a + b, 0);
    console.log(
      `wrote ${paths.join(", ")} and ${sheet}: ${prompts.length} video(s) of ${size.frames} ` +
        `frames at ${result.height}×${result.width} px; sampling ${samplingSeconds.toFixed(1)}s, ` +
        `decoding ${result.decodeSeconds.toFixed(1)}s`,
    );
  } finally {
    pipeline.release();
  }
}
