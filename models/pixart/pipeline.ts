/**
 * Text-to-image with PixArt, as diffusers' PixArt pipelines compose it: caption embeddings →
 * latents (a PixArt transformer under a scheduler) → VAE decode → RGB images in [0, 1].
 * Optionally under a DiTFastAttn plan calibrated for the same image size.
 */

import {
  checkPlanFits,
  type PlanFile,
  planOf,
  planSettings,
} from "../../src/compression/plan_file.ts";
import { CheckpointError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import type { ModelSource } from "../../src/io/model_folder.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import type { SamplerName } from "../../src/sampling/scheduler.ts";
import { checkVaeFits, composeWithVae, decodeEach } from "../vae/decode.ts";
import { VaeDecoder } from "../vae/model.ts";
import { upscaleFactor } from "../vae/config.ts";
import { pixartPlanFit } from "./cost.ts";
import { PixArtModel } from "./model.ts";
import { pixartLatentGrid, type PixArtResolution, samplePixArt } from "./sample.ts";

export interface PixArtPipelineLoadOptions {
  /** Storage of the transformer's large linear weights and the VAE's conv weights. */
  dtype?: "f32" | "f16";
}

export interface PixArtGenerateOptions extends Omit<PixArtResolution, "vaeScaleFactor"> {
  /** One caption embedding per image. */
  prompts: readonly PromptEmbedding[];
  /** The negative (or empty) prompt's embedding; needed when guidance is on. */
  negative?: PromptEmbedding;
  /** Denoising steps (default 20); a plan fixes its own. */
  steps?: number;
  /** Guidance scale (default 4.5); a plan fixes its own. */
  cfgScale?: number;
  /** Default DPM-Solver++(2M), as the PixArt pipelines; a plan fixes its own. */
  sampler?: SamplerName;
  /** Seed of the initial noise (default 0); image i draws from stream (seed, i). */
  seed?: number;
  /** Sample with this compression plan (calibrated at the same image size). */
  plan?: PlanFile;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
  /** Called after each image is decoded. */
  onDecode?: (image: number, images: number) => void;
}

export interface PixArtImages {
  /** One planar [3, height, width] image per prompt, values in [0, 1]. */
  images: Float32Array[];
  height: number;
  width: number;
  /** The sampled latents and per-step times. */
  latents: LoopResult;
  decodeSeconds: number;
}

export class PixArtPipeline {
  #released = false;

  private constructor(readonly transformer: PixArtModel, readonly vae: VaeDecoder) {}

  /** Loads a diffusers PixArt pipeline folder's `transformer/` and `vae/`. */
  static async load(
    gpu: Gpu,
    root: Folder,
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    for (const part of ["transformer", "vae"]) {
      if ((await root.folder(part).kind("config.json")) !== "file") {
        throw new CheckpointError(
          `${root.location} is not a PixArt pipeline folder: ${part}/config.json missing`,
        );
      }
    }
    return PixArtPipeline.fromFolders(gpu, {
      transformer: root.folder("transformer"),
      vae: root.folder("vae"),
    }, options);
  }

  /** Loads a transformer folder and a VAE folder. */
  static async fromFolders(
    gpu: Gpu,
    folders: { transformer: Folder; vae: Folder },
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    const vae = await VaeDecoder.load(gpu, folders.vae, { dtype: options.dtype });
    return composeWithVae(
      vae,
      () => PixArtModel.load(gpu, folders.transformer, options),
      (transformer) => PixArtPipeline.fromModels({ transformer, vae }),
    );
  }

  /** Builds the pipeline from config values and tensor sources (fetched bytes, memory). */
  static async fromSources(
    gpu: Gpu,
    sources: { transformer: ModelSource; vae: ModelSource },
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    const { transformer, vae: vaeSource } = sources;
    const vae = await VaeDecoder.fromSources(gpu, vaeSource.config, vaeSource.source, {
      dtype: options.dtype,
    });
    return composeWithVae(
      vae,
      () => PixArtModel.fromSources(gpu, transformer.config, transformer.source, options),
      (transformer) => PixArtPipeline.fromModels({ transformer, vae }),
    );
  }

  /** Composes loaded parts (checking that the VAE decodes the transformer's latents). */
  static fromModels(parts: { transformer: PixArtModel; vae: VaeDecoder }): PixArtPipeline {
    checkVaeFits(parts.transformer.inChannels, parts.vae, "PixArt model");
    return new PixArtPipeline(parts.transformer, parts.vae);
  }

  get gpu(): Gpu {
    return this.transformer.gpu;
  }

  /**
   * Samples latents for the prompts at height × width pixels (the VAE's scale factor decides
   * the latent size) and decodes them one image at a time, so only one image's decoder
   * activations are alive at once.
   */
  async generate(options: PixArtGenerateOptions): Promise<PixArtImages> {
    if (this.#released) throw new Error("PixArtPipeline used after release()");
    const vaeScaleFactor = upscaleFactor(this.vae.config);
    const { plan } = options;
    if (plan) {
      const grid = pixartLatentGrid(this.transformer, { ...options, vaeScaleFactor });
      checkPlanFits(plan, pixartPlanFit(this.transformer, grid), plan.steps);
    }
    const settings = planSettings(plan, options, {
      steps: 20,
      sampler: "dpm-solver++",
      cfgScale: 4.5,
    });
    const latents = await samplePixArt(this.transformer, {
      prompts: options.prompts,
      negative: options.negative,
      height: options.height,
      width: options.width,
      seed: options.seed,
      onStep: options.onStep,
      ...settings,
      plan: plan ? planOf(plan) : undefined,
      vaeScaleFactor,
    });
    const [batch, channels, latentHeight, latentWidth] = latents.shape;
    const perImage = channels * latentHeight * latentWidth;
    const started = performance.now();
    const images = await decodeEach(
      this.vae,
      batch,
      (b) => latents.samples.subarray(b * perImage, (b + 1) * perImage),
      [1, channels, latentHeight, latentWidth],
      options.onDecode,
    );
    return {
      images,
      height: latentHeight * vaeScaleFactor,
      width: latentWidth * vaeScaleFactor,
      latents,
      decodeSeconds: (performance.now() - started) / 1000,
    };
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.transformer.release();
    this.vae.release();
  }
}
