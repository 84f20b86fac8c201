/** Decoding a batch of latents with the VAE, one latent at a time, for the pipelines. */

import { OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { ModelSource } from "../../src/io/model_folder.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import { Tensor } from "../../src/tensor.ts";
import { VaeDecoder } from "./model.ts";

/** Checks that the VAE decodes latents of `channels` channels. */
export function checkVaeFits(channels: number, vae: VaeDecoder, what: string): void {
  if (vae.config.latentChannels !== channels) {
    throw new OptionError(
      `the VAE decodes ${vae.config.latentChannels}-channel latents, the ${what} makes ` +
        `${channels}`,
    );
  }
}

/** Decodes `count` latents one at a time (one latent's activations alive at once). */
export async function decodeEach(
  vae: VaeDecoder,
  count: number,
  latent: (index: number) => Float32Array,
  shape: number[],
  onDecode?: (index: number, count: number) => void,
): Promise<Float32Array[]> {
  const images: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const z = Tensor.fromArray(vae.gpu, latent(i), shape, "f32", "latents");
    const image = vae.decode(z);
    z.release();
    try {
      images.push(await image.toFloat32());
    } finally {
      image.release();
    }
    onDecode?.(i + 1, count);
  }
  return images;
}

/**
 * Loads a transformer after its VAE (the small part first, so a bad VAE fails before gigabytes
 * are read) and composes them; the VAE and transformer are released when either step fails.
 */
export async function composeWithVae<Model extends { release(): void }, Pipeline>(
  vae: VaeDecoder,
  loadTransformer: () => Promise<Model>,
  compose: (transformer: Model) => Pipeline,
): Promise<Pipeline> {
  let transformer: Model | undefined;
  try {
    transformer = await loadTransformer();
    return compose(transformer);
  } catch (e) {
    transformer?.release();
    vae.release();
    throw e;
  }
}

/**
 * A pipeline from config values and tensor sources (fetched bytes, memory): the VAE (in the
 * options' dtype) and then the transformer, as `composeWithVae` loads them.
 */
export async function composeFromSources<
  Options extends { dtype?: "f32" | "f16" },
  Model extends { release(): void },
  Pipeline,
>(
  gpu: Gpu,
  sources: { transformer: ModelSource; vae: ModelSource },
  options: Options,
  transformerFromSources: (
    gpu: Gpu,
    configJson: unknown,
    source: TensorSource,
    options: Options,
  ) => Promise<Model>,
  compose: (parts: { transformer: Model; vae: VaeDecoder }) => Pipeline,
): Promise<Pipeline> {
  const { transformer, vae: vaeSource } = sources;
  const vae = await VaeDecoder.fromSources(gpu, vaeSource.config, vaeSource.source, {
    dtype: options.dtype,
  });
  return composeWithVae(
    vae,
    () => transformerFromSources(gpu, transformer.config, transformer.source, options),
    (transformer) => compose({ transformer, vae }),
  );
}
