/**
 * Text-to-video with STDiT2: precomputed prompt embeddings → latent videos [B, 4, T, h, w] →
 * every frame decoded by the image VAE on its own (Open-Sora v1.1 decodes per frame too).
 */

import { OptionError } from "../../src/errors.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import { Tensor } from "../../src/tensor.ts";
import type { STDiT2Model } from "./model.ts";
import { sampleSTDiT2, type STDiT2SampleOptions } from "./sample.ts";
import type { VaeDecoder } from "../vae/model.ts";
import { upscaleFactor } from "../vae/config.ts";

export interface GeneratedVideos {
  /** videos[sample][frame]: planar [3, height, width] RGB in [0, 1]. */
  videos: Float32Array[][];
  height: number;
  width: number;
  /** The sampled latents and per-step times. */
  latents: LoopResult;
  decodeSeconds: number;
}

/** Checks that the VAE decodes this model's latents. */
export function checkVideoVae(model: STDiT2Model, vae: VaeDecoder): void {
  if (vae.config.latentChannels !== model.inChannels) {
    throw new OptionError(
      `the VAE decodes ${vae.config.latentChannels}-channel latents, the STDiT2 model makes ` +
        `${model.inChannels}`,
    );
  }
}

/** Frame t of sample b of latents [B, C, T, h, w], as one image latent [C, h, w]. */
export function latentFrame(latents: LoopResult, sample: number, frame: number): Float32Array {
  const [, channels, frames, height, width] = latents.shape;
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const from = ((sample * channels + c) * frames + frame) * plane;
    out.set(latents.samples.subarray(from, from + plane), c * plane);
  }
  return out;
}

/**
 * Samples a latent video per prompt (the VAE's scale factor decides the latent size) and
 * decodes it frame by frame, so only one frame's decoder activations are alive at once.
 */
export async function generateVideos(
  model: STDiT2Model,
  vae: VaeDecoder,
  options: Omit<STDiT2SampleOptions, "vaeScaleFactor">,
): Promise<GeneratedVideos> {
  checkVideoVae(model, vae);
  const vaeScaleFactor = upscaleFactor(vae.config);
  const latents = await sampleSTDiT2(model, { ...options, vaeScaleFactor });
  const [batch, channels, frames, latentHeight, latentWidth] = latents.shape;
  const started = performance.now();
  const videos: Float32Array[][] = [];
  for (let b = 0; b < batch; b++) {
    const video: Float32Array[] = [];
    for (let t = 0; t < frames; t++) {
      const z = Tensor.fromArray(
        model.gpu,
        latentFrame(latents, b, t),
        [
          1,
          channels,
          latentHeight,
          latentWidth,
        ],
        "f32",
        "latent-frame",
      );
      const image = vae.decode(z);
      z.release();
      video.push(await image.toFloat32());
      image.release();
    }
    videos.push(video);
  }
  return {
    videos,
    height: latentHeight * vaeScaleFactor,
    width: latentWidth * vaeScaleFactor,
    latents,
    decodeSeconds: (performance.now() - started) / 1000,
  };
}
