/**
 * Text-to-image with PixArt, as diffusers' PixArt pipelines compose it: captions → T5 embeddings
 * (text stage, `./text.ts`) → latents (a PixArt transformer under a scheduler) → VAE decode → RGB
 * images in [0, 1]. Optionally under a DiTFastAttn plan calibrated for the same image size.
 *
 * Memory: the T5 encoder (T5-XXL: 9.5 GB in f16) and the transformer are never loaded together.
 * A pipeline loaded from a folder with a text encoder loads its transformer and VAE only after
 * the first prompts are encoded; a later text `generate` releases them, encodes, and loads them
 * again. `encodePrompts` runs the text stage alone (for caching embeddings).
 */

import {
  checkPlanFits,
  type PlanFile,
  type PlanFit,
  planOf,
  planSettings,
} from "../../src/compression/plan_file.ts";
import { CheckpointError, OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { Folder } from "../../src/io/folder.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";
import type { ModelSource } from "../../src/io/model_folder.ts";
import type { LoopResult } from "../../src/sampling/sample_loop.ts";
import { isGuided } from "../../src/sampling/sample_loop.ts";
import type { SamplerName } from "../../src/sampling/scheduler.ts";
import { checkVaeFits, composeFromSources, composeWithVae, decodeEach } from "../vae/decode.ts";
import { VaeDecoder } from "../vae/model.ts";
import { parseVaeConfig, upscaleFactor, type VaeConfig } from "../vae/config.ts";
import { parsePixArtConfig, type PixArtConfig } from "./config.ts";
import { pixartPlanFit } from "./cost.ts";
import { PixArtModel } from "./model.ts";
import { pixartLatentGrid, type PixArtResolution, samplePixArt } from "./sample.ts";
import { SAMPLING_DEFAULTS } from "../sampling_defaults.ts";
import {
  checkMaxLength,
  loadPixArtTextStage,
  PIXART_DEFAULT_MAX_LENGTH,
  type PixArtEncodeOptions,
  type PixArtPromptEmbeddings,
  type PixArtTextFolders,
  type PixArtTextOptions,
  type PixArtTextStage,
  readModelConfig,
  readPixArtFolderIndex,
  runPixArtTextStage,
} from "./text.ts";

export interface PixArtPipelineLoadOptions {
  /** Storage of the transformer's large linear weights and the VAE's conv weights. */
  dtype?: "f32" | "f16";
  /** Storage of the T5 encoder's weights (default: `dtype`). T5-XXL is 9.5 GB in f16. */
  textDtype?: "f32" | "f16";
}

export interface PixArtGenerateOptions
  extends Omit<PixArtResolution, "vaeScaleFactor">, Omit<PixArtTextOptions, "negativePrompt"> {
  /**
   * One caption per image: text (encoded by the pipeline's T5; a pipeline loaded from a folder
   * with `text_encoder/` and `tokenizer/`) or precomputed embeddings.
   */
  prompts: readonly string[] | readonly PromptEmbedding[];
  /** With text prompts: the negative prompt (default "", as diffusers). */
  negativePrompt?: string;
  /**
   * The negative (or empty) prompt's embedding; needed with embedding prompts when guidance is
   * on. With text prompts it replaces `negativePrompt`.
   */
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
  /**
   * With text prompts: called (and awaited) once the captions are encoded and T5 is released,
   * before the transformer is loaded: to show the truncation notices or cache the embeddings.
   */
  onEncoded?: (encoded: PixArtPromptEmbeddings) => void | Promise<void>;
}

export interface PixArtImages {
  /** One planar [3, height, width] image per prompt, values in [0, 1]. */
  images: Float32Array[];
  height: number;
  width: number;
  /** The sampled latents and per-step times. */
  latents: LoopResult;
  decodeSeconds: number;
  /** With text prompts: a line per prompt truncated to the max length. */
  notices: string[];
}

interface PixArtParts {
  transformer: PixArtModel;
  vae: VaeDecoder;
}

/** The transformer's config alone: what a plan and an image size are checked against. */
function configView(
  config: PixArtConfig,
): Pick<PixArtModel, "family" | "config" | "layers" | "tokens"> {
  return {
    family: "pixart",
    config,
    layers: config.numLayers,
    tokens: (height = config.sampleSize, width = height) =>
      (height / config.patchSize) * (width / config.patchSize),
  };
}

async function loadParts(
  gpu: Gpu,
  folders: { transformer: Folder; vae: Folder },
  options: PixArtPipelineLoadOptions,
): Promise<PixArtParts> {
  const vae = await VaeDecoder.load(gpu, folders.vae, { dtype: options.dtype });
  return composeWithVae(
    vae,
    () => PixArtModel.load(gpu, folders.transformer, { dtype: options.dtype }),
    (transformer) => {
      checkVaeFits(transformer.inChannels, vae, "PixArt model");
      return { transformer, vae };
    },
  );
}

export class PixArtPipeline {
  #released = false;
  #parts: PixArtParts | null;

  private constructor(
    readonly gpu: Gpu,
    parts: PixArtParts | null,
    /** Loads the transformer and VAE again (pipelines from folders), else null. */
    private readonly reload: (() => Promise<PixArtParts>) | null,
    private readonly configs: { transformer: PixArtConfig; vae: VaeConfig },
    private readonly text: PixArtTextStage | null,
    /** Why there is no text stage (for the error when text is given). */
    private readonly textMissing: string,
  ) {
    this.#parts = parts;
  }

  /**
   * Loads a diffusers PixArt pipeline folder: `transformer/` and `vae/`, and when present
   * `model_index.json` (the pipeline class sets the max length: 120 for α, 300 for Σ),
   * `text_encoder/` (T5EncoderModel) and `tokenizer/` (spiece.model or tokenizer.json). Every
   * config, the tokenizer and the widths are checked now. With a text encoder, the transformer
   * and VAE weights are loaded by the first `generate` (after its prompts are encoded) or by
   * `loadModels()`; without one, now.
   */
  static async load(
    gpu: Gpu,
    root: Folder,
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    const index = await readPixArtFolderIndex(root);
    for (const part of ["transformer", "vae"]) {
      if ((await root.folder(part).kind("config.json")) !== "file") {
        throw new CheckpointError(
          `${root.location} is not a PixArt pipeline folder: ${part}/config.json missing`,
        );
      }
    }
    const folders = { transformer: root.folder("transformer"), vae: root.folder("vae") };
    const transformer = await readModelConfig(folders.transformer, parsePixArtConfig);
    const vae = await readModelConfig(folders.vae, parseVaeConfig);
    if (vae.config.latentChannels !== transformer.config.inChannels) {
      throw new OptionError(
        `the VAE decodes ${vae.config.latentChannels}-channel latents, the PixArt model makes ` +
          `${transformer.config.inChannels}`,
      );
    }
    const reload = () => loadParts(gpu, folders, options);
    const configs = { transformer: transformer.config, vae: vae.config };
    if (!index.text) {
      return new PixArtPipeline(gpu, await reload(), reload, configs, null, index.textMissing!);
    }
    const stage = await loadPixArtTextStage(
      index.text,
      transformer,
      index.maxLength,
      options.textDtype ?? options.dtype,
    );
    return new PixArtPipeline(gpu, null, reload, configs, stage, "");
  }

  /**
   * The text stage alone: loads the T5 encoder of `source` (a pipeline folder, or the text
   * encoder and tokenizer folders), encodes the captions and the negative prompt, and releases
   * the encoder. Load the transformer afterwards, into the memory T5 used.
   */
  static async encodePrompts(
    gpu: Gpu,
    source: Folder | PixArtTextFolders,
    prompts: readonly string[],
    options: PixArtEncodeOptions = {},
  ): Promise<PixArtPromptEmbeddings> {
    let stage: PixArtTextStage;
    if ("textEncoder" in source) {
      const transformer = source.transformer
        ? await readModelConfig(source.transformer, parsePixArtConfig)
        : undefined;
      stage = await loadPixArtTextStage(
        source,
        transformer,
        PIXART_DEFAULT_MAX_LENGTH,
        options.dtype,
      );
    } else {
      const index = await readPixArtFolderIndex(source);
      if (!index.text) throw new CheckpointError(index.textMissing!);
      const transformer = await readModelConfig(source.folder("transformer"), parsePixArtConfig);
      stage = await loadPixArtTextStage(index.text, transformer, index.maxLength, options.dtype);
    }
    return runPixArtTextStage(gpu, stage, prompts, options);
  }

  /** Loads a transformer folder and a VAE folder. */
  static async fromFolders(
    gpu: Gpu,
    folders: { transformer: Folder; vae: Folder },
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    const reload = () => loadParts(gpu, folders, options);
    return PixArtPipeline.#eager(await reload(), reload);
  }

  /** Builds the pipeline from config values and tensor sources (fetched bytes, memory). */
  static fromSources(
    gpu: Gpu,
    sources: { transformer: ModelSource; vae: ModelSource },
    options: PixArtPipelineLoadOptions = {},
  ): Promise<PixArtPipeline> {
    return composeFromSources(
      gpu,
      sources,
      options,
      PixArtModel.fromSources,
      (parts) => PixArtPipeline.fromModels(parts),
    );
  }

  /** Composes loaded parts (checking that the VAE decodes the transformer's latents). */
  static fromModels(parts: { transformer: PixArtModel; vae: VaeDecoder }): PixArtPipeline {
    checkVaeFits(parts.transformer.inChannels, parts.vae, "PixArt model");
    return PixArtPipeline.#eager(parts, null);
  }

  static #eager(parts: PixArtParts, reload: (() => Promise<PixArtParts>) | null): PixArtPipeline {
    const { transformer, vae } = parts;
    return new PixArtPipeline(
      transformer.gpu,
      parts,
      reload,
      { transformer: transformer.config, vae: vae.config },
      null,
      "this pipeline has no text encoder: load it with PixArtPipeline.load from a pipeline " +
        "folder with text_encoder/ and tokenizer/, or pass prompt embeddings",
    );
  }

  #loaded(): PixArtParts {
    if (this.#released) throw new OptionError("PixArtPipeline used after release()");
    if (!this.#parts) {
      throw new OptionError(
        "PixArtPipeline: the transformer and VAE are not loaded yet (a pipeline with a text " +
          "encoder loads them after encoding the first prompts): await loadModels() first",
      );
    }
    return this.#parts;
  }

  get transformer(): PixArtModel {
    return this.#loaded().transformer;
  }

  get vae(): VaeDecoder {
    return this.#loaded().vae;
  }

  /** The transformer's config (known before its weights are loaded). */
  get transformerConfig(): PixArtConfig {
    return this.configs.transformer;
  }

  /** The VAE's config. */
  get vaeConfig(): VaeConfig {
    return this.configs.vae;
  }

  /** What a plan for this pipeline at an image size must fit (checked without the weights). */
  planFit(size: { height?: number; width?: number } = {}): PlanFit {
    const view = configView(this.configs.transformer);
    const grid = pixartLatentGrid(view, {
      ...size,
      vaeScaleFactor: upscaleFactor(this.configs.vae),
    });
    return pixartPlanFit(view, grid);
  }

  /** Whether the transformer and VAE weights are on the GPU. */
  get modelsLoaded(): boolean {
    return this.#parts !== null;
  }

  /** Whether `generate` takes text prompts. */
  get hasTextEncoder(): boolean {
    return this.text !== null;
  }

  /** The captions' token count with text prompts (the pipeline's max_sequence_length). */
  get maxLength(): number | undefined {
    return this.text?.maxLength;
  }

  /** Loads the transformer and VAE now (a no-op when they are loaded). */
  async loadModels(): Promise<void> {
    if (this.#released) throw new OptionError("PixArtPipeline used after release()");
    if (this.#parts) return;
    this.#parts = await this.reload!();
  }

  #releaseModels(): void {
    if (!this.#parts) return;
    this.#parts.transformer.release();
    this.#parts.vae.release();
    this.#parts = null;
  }

  /** Resolves the prompts to embeddings, running the text stage when they are text. */
  async #embeddings(
    options: PixArtGenerateOptions,
    guided: boolean,
  ): Promise<
    { prompts: readonly PromptEmbedding[]; negative?: PromptEmbedding; notices: string[] }
  > {
    const { prompts } = options;
    const texts = prompts.filter((p) => typeof p === "string");
    if (texts.length === 0) {
      if (options.negativePrompt !== undefined) {
        throw new OptionError(
          "negativePrompt is for text prompts; with prompt embeddings pass `negative`",
        );
      }
      return {
        prompts: prompts as readonly PromptEmbedding[],
        negative: options.negative,
        notices: [],
      };
    }
    if (texts.length !== prompts.length) {
      throw new OptionError("prompts must be all text or all embeddings, not a mix");
    }
    if (options.negative && options.negativePrompt !== undefined) {
      throw new OptionError(
        "give either negativePrompt (text) or negative (an embedding), not both",
      );
    }
    if (!this.text) throw new OptionError(this.textMissing);
    if (options.maxLength !== undefined) checkMaxLength(options.maxLength);
    // Keep the transformer and T5 apart: a loaded transformer is freed and loaded again after.
    this.#releaseModels();
    const encoded = await runPixArtTextStage(this.gpu, this.text, texts, {
      negativePrompt: guided && !options.negative ? options.negativePrompt ?? "" : null,
      maxLength: options.maxLength,
      cleanCaption: options.cleanCaption,
      onEncode: options.onEncode,
    });
    await options.onEncoded?.(encoded);
    return {
      prompts: encoded.prompts,
      negative: options.negative ?? encoded.negative,
      notices: encoded.notices,
    };
  }

  /**
   * Samples latents for the prompts at height × width pixels (the VAE's scale factor decides
   * the latent size) and decodes them one image at a time, so only one image's decoder
   * activations are alive at once. Text prompts are encoded first (see the class notes).
   */
  async generate(options: PixArtGenerateOptions): Promise<PixArtImages> {
    if (this.#released) throw new OptionError("PixArtPipeline used after release()");
    const vaeScaleFactor = upscaleFactor(this.configs.vae);
    const { plan } = options;
    // Every option is checked before the text encoder or the transformer is loaded.
    const grid = pixartLatentGrid(configView(this.configs.transformer), {
      ...options,
      vaeScaleFactor,
    });
    if (plan) {
      checkPlanFits(plan, pixartPlanFit(configView(this.configs.transformer), grid), plan.steps);
    }
    const settings = planSettings(plan, options, SAMPLING_DEFAULTS.pixart);
    const { prompts, negative, notices } = await this.#embeddings(
      options,
      isGuided(settings.cfgScale),
    );
    await this.loadModels();
    const { transformer, vae } = this.#loaded();
    const latents = await samplePixArt(transformer, {
      prompts,
      negative,
      height: grid.height,
      width: grid.width,
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
      vae,
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
      notices,
    };
  }

  release(): void {
    if (this.#released) return;
    this.#releaseModels();
    this.#released = true;
  }
}
