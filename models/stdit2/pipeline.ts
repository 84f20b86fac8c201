/**
 * Text-to-video with STDiT2: caption embeddings → latent videos [B, 4, T, h, w] → every frame
 * decoded by the image VAE on its own (Open-Sora v1.1 decodes per frame too). Optionally under
 * a DiTFastAttn plan calibrated for the same video size.
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
import type { ModelSource } from "../../src/io/model_folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import type { SamplerName } from "../../src/sampling/scheduler.ts";
import { checkVaeFits, composeFromSources, composeWithVae, decodeEach } from "../vae/decode.ts";
import { VaeDecoder } from "../vae/model.ts";
import { upscaleFactor } from "../vae/config.ts";
import { stdit2PlanFit } from "./cost.ts";
import { STDiT2Model } from "./model.ts";
import { latentVideo, sampleSTDiT2, type VideoSize } from "./sample.ts";
import { SAMPLING_DEFAULTS } from "../sampling_defaults.ts";
import {
  encodeSTDiT2Text,
  type STDiT2PromptEmbeddings,
  type STDiT2TextFolders,
  type STDiT2TextOptions,
} from "./text.ts";

export interface STDiT2PipelineLoadOptions {
  /** Storage of the transformer's large linear weights and the VAE's conv weights. */
  dtype?: "f32" | "f16";
}

export interface STDiT2GenerateOptions extends Omit<VideoSize, "vaeScaleFactor"> {
  /** One caption embedding per video. */
  prompts: readonly PromptEmbedding[];
  /** Denoising steps (default 100); a plan fixes its own. */
  steps?: number;
  /** Guidance scale (default 7); a plan fixes its own. */
  cfgScale?: number;
  /** Default "ddpm" (Open-Sora's IDDPM); a plan fixes its own. */
  sampler?: SamplerName;
  /** ε channels guidance applies to (default 3, Open-Sora's cfg_channel). */
  guidedChannels?: number;
  /** Seed of the initial and per-step noise (default 0). */
  seed?: number;
  /** Sample with this compression plan (calibrated for the same video size). */
  plan?: PlanFile;
  onStep?: (step: number, steps: number, stepSeconds: number) => void;
  /** Called after each frame is decoded. */
  onDecode?: (frame: number, frames: number) => void;
}

export interface GeneratedVideos {
  /** videos[sample][frame]: planar [3, height, width] RGB in [0, 1]. */
  videos: Float32Array[][];
  height: number;
  width: number;
  /** The sampled latents and per-step times. */
  latents: LoopResult;
  decodeSeconds: number;
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

export class STDiT2Pipeline {
  #released = false;

  private constructor(readonly transformer: STDiT2Model, readonly vae: VaeDecoder) {}

  /** Loads a folder holding `transformer/` (Open-Sora STDiT2) and `vae/` (AutoencoderKL). */
  static async load(
    gpu: Gpu,
    root: Folder,
    options: STDiT2PipelineLoadOptions = {},
  ): Promise<STDiT2Pipeline> {
    for (const part of ["transformer", "vae"]) {
      if ((await root.folder(part).kind("config.json")) !== "file") {
        throw new CheckpointError(
          `${root.location} is not an STDiT2 pipeline folder: ${part}/config.json missing`,
        );
      }
    }
    return STDiT2Pipeline.fromFolders(gpu, {
      transformer: root.folder("transformer"),
      vae: root.folder("vae"),
    }, options);
  }

  /**
   * The text stage alone, run before the transformer is loaded: T5 from `source` (a folder with
   * `transformer/`, `text_encoder/` and `tokenizer/`, or those folders) encodes the captions to
   * the model's model_max_length tokens and is released again.
   */
  static encodePrompts(
    gpu: Gpu,
    source: Folder | STDiT2TextFolders,
    prompts: readonly string[],
    options: STDiT2TextOptions = {},
  ): Promise<STDiT2PromptEmbeddings> {
    return encodeSTDiT2Text(gpu, source, prompts, options);
  }

  /** Loads a transformer folder and a VAE folder. */
  static async fromFolders(
    gpu: Gpu,
    folders: { transformer: Folder; vae: Folder },
    options: STDiT2PipelineLoadOptions = {},
  ): Promise<STDiT2Pipeline> {
    const vae = await VaeDecoder.load(gpu, folders.vae, { dtype: options.dtype });
    return composeWithVae(
      vae,
      () => STDiT2Model.load(gpu, folders.transformer, options),
      (transformer) => STDiT2Pipeline.fromModels({ transformer, vae }),
    );
  }

  /** Builds the pipeline from config values and tensor sources (fetched bytes, memory). */
  static fromSources(
    gpu: Gpu,
    sources: { transformer: ModelSource; vae: ModelSource },
    options: STDiT2PipelineLoadOptions = {},
  ): Promise<STDiT2Pipeline> {
    return composeFromSources(
      gpu,
      sources,
      options,
      STDiT2Model.fromSources,
      (parts) => STDiT2Pipeline.fromModels(parts),
    );
  }

  /** Composes loaded parts (checking that the VAE decodes the transformer's latents). */
  static fromModels(parts: { transformer: STDiT2Model; vae: VaeDecoder }): STDiT2Pipeline {
    checkVaeFits(parts.transformer.inChannels, parts.vae, "STDiT2 model");
    return new STDiT2Pipeline(parts.transformer, parts.vae);
  }

  get gpu(): Gpu {
    return this.transformer.gpu;
  }

  /** The VAE's scale factor with the video size: what a plan for this pipeline is bound to. */
  videoSize(size: Omit<VideoSize, "vaeScaleFactor">): VideoSize {
    return { ...size, vaeScaleFactor: upscaleFactor(this.vae.config) };
  }

  /**
   * Samples a latent video per prompt and decodes it frame by frame, so only one frame's
   * decoder activations are alive at once.
   */
  async generate(options: STDiT2GenerateOptions): Promise<GeneratedVideos> {
    if (this.#released) throw new Error("STDiT2Pipeline used after release()");
    const size = this.videoSize(options);
    const { plan } = options;
    if (plan) checkPlanFits(plan, stdit2PlanFit(this.transformer, latentVideo(size)), plan.steps);
    const settings = planSettings(plan, options, SAMPLING_DEFAULTS.stdit2);
    const latents = await sampleSTDiT2(this.transformer, {
      prompts: options.prompts,
      frames: options.frames,
      height: options.height,
      width: options.width,
      fps: options.fps,
      guidedChannels: options.guidedChannels,
      seed: options.seed,
      onStep: options.onStep,
      ...settings,
      plan: plan ? planOf(plan) : undefined,
      vaeScaleFactor: size.vaeScaleFactor,
    });
    const [batch, channels, frames, latentHeight, latentWidth] = latents.shape;
    const started = performance.now();
    const flat = await decodeEach(
      this.vae,
      batch * frames,
      (i) => latentFrame(latents, Math.floor(i / frames), i % frames),
      [1, channels, latentHeight, latentWidth],
      options.onDecode,
    );
    const videos = Array.from(
      { length: batch },
      (_, b) => flat.slice(b * frames, (b + 1) * frames),
    );
    const vaeScaleFactor = size.vaeScaleFactor!;
    return {
      videos,
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
