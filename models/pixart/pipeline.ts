/** Text-to-image with PixArt: precomputed prompt embeddings → latents → VAE decode → RGB images. */

import { OptionError } from "../../src/errors.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import { Tensor } from "../../src/tensor.ts";
import type { PixArtModel } from "./model.ts";
import { type PixArtSampleOptions, samplePixArt } from "./sample.ts";
import type { VaeDecoder } from "../vae/model.ts";
import { upscaleFactor } from "../vae/config.ts";

export interface PixArtImages {
  /** One planar [3, height, width] image per prompt, values in [0, 1]. */
  images: Float32Array[];
  height: number;
  width: number;
  /** The sampled latents and per-step times. */
  latents: LoopResult;
  decodeSeconds: number;
}

/** Checks that the VAE decodes this model's latents. */
export function checkVaeFits(model: PixArtModel, vae: VaeDecoder): void {
  if (vae.config.latentChannels !== model.inChannels) {
    throw new OptionError(
      `the VAE decodes ${vae.config.latentChannels}-channel latents, the PixArt model makes ` +
        `${model.inChannels}`,
    );
  }
}

/**
 * Samples latents for the prompts at height × width pixels (the VAE's scale factor decides the
 * latent size) and decodes them one image at a time, so only one image's decoder activations
 * are alive at once.
 */
export async function generatePixArtImages(
  model: PixArtModel,
  vae: VaeDecoder,
  options: Omit<PixArtSampleOptions, "vaeScaleFactor">,
): Promise<PixArtImages> {
  checkVaeFits(model, vae);
  const vaeScaleFactor = upscaleFactor(vae.config);
  const latents = await samplePixArt(model, { ...options, vaeScaleFactor });
  const [batch, channels, latentHeight, latentWidth] = latents.shape;
  const perSample = channels * latentHeight * latentWidth;
  const started = performance.now();
  const images: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const z = Tensor.fromArray(
      model.gpu,
      latents.samples.subarray(b * perSample, (b + 1) * perSample),
      [1, channels, latentHeight, latentWidth],
      "f32",
      "latents",
    );
    const image = vae.decode(z);
    z.release();
    images.push(await image.toFloat32());
    image.release();
  }
  return {
    images,
    height: latentHeight * vaeScaleFactor,
    width: latentWidth * vaeScaleFactor,
    latents,
    decodeSeconds: (performance.now() - started) / 1000,
  };
}
