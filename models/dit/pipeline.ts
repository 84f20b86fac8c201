/**
 * Class-conditional DiT image generation end to end, as diffusers' DiTPipeline: a DiT
 * transformer denoises latents under a scheduler config, and an AutoencoderKL decoder turns them
 * into images in [0, 1]. Optionally under a DiTFastAttn compression plan.
 */

import { CheckpointError, OptionError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import {
  checkPlanFits,
  type PlanFile,
  planOf,
  planSettings,
} from "../../src/compression/plan_file.ts";
import type { Folder } from "../../src/io/folder.ts";
import { readJsonConfig } from "../../src/io/model_folder.ts";
import { batchNoise } from "../../src/sampling/prng.ts";
import { isGuided } from "../../src/sampling/sample_loop.ts";
import {
  chooseSampler,
  DIT_SCHEDULER_CONFIG,
  parseSchedulerConfig,
  type SchedulerConfig,
  schedulerFromConfig,
} from "../../src/sampling/scheduler_config.ts";
import { asJsonConfig, type ModelSource } from "../../src/io/model_folder.ts";
import type { SamplerName } from "../../src/sampling/scheduler.ts";
import { Tensor } from "../../src/tensor.ts";
import { DiTModel } from "./model.ts";
import { hiddenSize } from "./config.ts";
import { ditPlanFit } from "./cost.ts";
import { checkLabels, sampleDiT } from "./sample.ts";
import { composeWithVae } from "../vae/decode.ts";
import { VaeDecoder } from "../vae/model.ts";
import { upscaleFactor } from "../vae/config.ts";

export interface DiTPipelineLoadOptions {
  /** Storage of the transformer's large linear weights and the VAE's conv weights (f32). */
  dtype?: "f32" | "f16";
  /**
   * Keep the transformer's large linear weights only as the linear kernel's packed textures on
   * CPU adapters, which halves their memory (default true; see DiTLoadOptions).
   */
  freePackedWeights?: boolean;
}

/** The parts of a pipeline given folder by folder. */
export interface DiTPipelineFolders {
  /** A diffusers DiT transformer folder (config.json + safetensors). */
  transformer: Folder;
  /** A diffusers AutoencoderKL folder. */
  vae: Folder;
  /** The scheduler config; DiT's own DDIM schedule when absent. */
  scheduler?: SchedulerConfig;
}

/** Loaded parts, composed by `fromModels`. */
export interface DiTPipelineParts {
  transformer: DiTModel;
  vae: VaeDecoder;
  scheduler?: SchedulerConfig;
  classNames?: ClassNames;
}

export interface DiTGenerateOptions {
  /** ImageNet class id per image. */
  labels: readonly number[];
  /** Denoising steps (default 50, as DiTPipeline); a plan fixes its own. */
  steps?: number;
  /** Guidance scale (default 4); a plan fixes its own. */
  cfgScale?: number;
  /** Seed of the latent noise; image i draws from stream (seed, i) whatever the batch split. */
  seed?: number;
  /** Default: the scheduler config's class (DDIMScheduler → ddim); a plan fixes its own. */
  sampler?: SamplerName;
  /** Guide only the first n latent channels (the original DiT guides 3; default all). */
  guidedChannels?: number;
  /** Sample with this compression plan (a plan file's value, or `compress(...).planFile`). */
  plan?: PlanFile;
  /** Images per denoising batch (default: as many as keep every activation in one binding). */
  batchSize?: number;
  onStep?: (progress: StepProgress) => void;
  /** Called after each image is decoded by the VAE. */
  onDecode?: (image: number, images: number) => void;
}

export interface StepProgress {
  step: number;
  steps: number;
  stepSeconds: number;
  /** Which part of the batch is being denoised, of how many. */
  part: number;
  parts: number;
}

export interface DiTGenerateResult {
  /** Images [B, 3, H, W] in [0, 1], planar per image. */
  images: Float32Array;
  shape: number[];
  /** The final latents [B, C, h, w] before decoding. */
  latents: Float32Array;
  latentShape: number[];
  /** Seconds of each denoising step, per part of the batch. */
  stepSeconds: number[][];
  decodeSeconds: number;
}

/** ImageNet-style class names: id → "tench, Tinca tinca" (comma-separated synonyms). */
export type ClassNames = ReadonlyMap<number, string>;

/** `id2label` of a pipeline's model_index.json, when there is one. */
async function readClassNames(root: Folder): Promise<Map<number, string>> {
  const path = root.pathOf("model_index.json");
  if ((await root.kind("model_index.json")) !== "file") return new Map();
  const index = await readJsonConfig(root, "model_index.json");
  const className = index["_class_name"];
  if (className !== undefined && className !== "DiTPipeline") {
    throw new CheckpointError(`${path}: "_class_name" is ${className}, not DiTPipeline`);
  }
  const raw = index["id2label"];
  const names = new Map<number, string>();
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    for (const [key, value] of Object.entries(raw)) {
      if (/^\d+$/.test(key) && typeof value === "string") names.set(Number(key), value);
    }
  }
  return names;
}

export class DiTPipeline {
  #released = false;
  #classNames: ClassNames = new Map();

  private constructor(
    readonly transformer: DiTModel,
    readonly vae: VaeDecoder,
    readonly scheduler: SchedulerConfig,
  ) {}

  /**
   * Loads a diffusers pipeline folder: `transformer/`, `vae/`, `scheduler/scheduler_config.json`
   * and optionally `model_index.json` (its `id2label` gives class names).
   */
  static async load(
    gpu: Gpu,
    root: Folder,
    options: DiTPipelineLoadOptions = {},
  ): Promise<DiTPipeline> {
    if ((await root.list().catch(() => undefined)) === undefined) {
      throw new CheckpointError(`pipeline folder ${root.location} does not exist`);
    }
    const missing = [];
    for (
      const file of [
        "transformer/config.json",
        "vae/config.json",
        "scheduler/scheduler_config.json",
      ]
    ) {
      const [part, name] = file.split("/");
      if ((await root.folder(part).kind(name)) === "file") continue;
      missing.push((await root.kind(part)) === null ? `${part}/` : file);
    }
    if (missing.length > 0) {
      throw new CheckpointError(
        `${root.location} is not a DiT pipeline folder: ${missing.join(", ")} missing ` +
          `(expected transformer/, vae/ and scheduler/scheduler_config.json)`,
      );
    }
    const classNames = await readClassNames(root);
    const schedulerFolder = root.folder("scheduler");
    const scheduler = parseSchedulerConfig(
      await readJsonConfig(schedulerFolder, "scheduler_config.json"),
      schedulerFolder.pathOf("scheduler_config.json"),
    );
    const pipeline = await DiTPipeline.fromFolders(
      gpu,
      { transformer: root.folder("transformer"), vae: root.folder("vae"), scheduler },
      options,
    );
    pipeline.#classNames = classNames;
    return pipeline;
  }

  /** Loads a transformer folder and a VAE folder (with a scheduler config, if given). */
  static async fromFolders(
    gpu: Gpu,
    folders: DiTPipelineFolders,
    options: DiTPipelineLoadOptions = {},
  ): Promise<DiTPipeline> {
    const dtype = checkDtype(options.dtype);
    // The small part first, so a bad VAE fails before gigabytes of transformer are read.
    const vae = await VaeDecoder.load(gpu, folders.vae, { dtype });
    return composeWithVae(
      vae,
      () =>
        DiTModel.load(gpu, folders.transformer, {
          dtype,
          freePackedWeights: options.freePackedWeights ?? true,
        }),
      (transformer) => DiTPipeline.fromModels({ transformer, vae, scheduler: folders.scheduler }),
    );
  }

  /**
   * Builds the pipeline from config values and tensor sources (fetched bytes, memory); the
   * scheduler config is a `scheduler_config.json` value (DiT's own DDIM schedule when absent).
   */
  static async fromSources(
    gpu: Gpu,
    sources: { transformer: ModelSource; vae: ModelSource; scheduler?: unknown },
    options: DiTPipelineLoadOptions = {},
  ): Promise<DiTPipeline> {
    const dtype = checkDtype(options.dtype);
    const scheduler = sources.scheduler === undefined
      ? undefined
      : parseSchedulerConfig(asJsonConfig(sources.scheduler, "scheduler"), "scheduler config");
    const vae = await VaeDecoder.fromSources(gpu, sources.vae.config, sources.vae.source, {
      dtype,
    });
    return composeWithVae(
      vae,
      () =>
        DiTModel.fromSources(gpu, sources.transformer.config, sources.transformer.source, {
          dtype,
          freePackedWeights: options.freePackedWeights ?? true,
        }),
      (transformer) => DiTPipeline.fromModels({ transformer, vae, scheduler }),
    );
  }

  /** Composes loaded parts (checking that the VAE decodes the transformer's latents). */
  static fromModels(parts: DiTPipelineParts): DiTPipeline {
    const { transformer, vae } = parts;
    const latent = vae.config.latentChannels;
    if (transformer.inChannels !== latent) {
      throw new CheckpointError(
        `${transformer.source} takes ${transformer.inChannels}-channel latents but the VAE ` +
          `decodes ${latent}-channel latents`,
      );
    }
    const pipeline = new DiTPipeline(transformer, vae, parts.scheduler ?? DIT_SCHEDULER_CONFIG);
    pipeline.#classNames = parts.classNames ?? new Map();
    return pipeline;
  }

  /** ImageNet-style class names from `model_index.json` (empty when there is none). */
  get classNames(): ClassNames {
    return this.#classNames;
  }

  get gpu(): Gpu {
    return this.transformer.gpu;
  }

  /** Side of the generated images in pixels (latent size × the VAE's upscale). */
  get imageSize(): number {
    return this.transformer.config.sampleSize * upscaleFactor(this.vae.config);
  }

  /** Class ids for names (any comma-separated synonym of `id2label`, case-insensitive). */
  labelIds(names: readonly string[]): number[] {
    const bySynonym = new Map<string, number>();
    for (const [id, value] of this.classNames) {
      for (const synonym of value.split(",")) bySynonym.set(synonym.trim().toLowerCase(), id);
    }
    return names.map((name) => {
      const id = bySynonym.get(name.trim().toLowerCase());
      if (id === undefined) {
        const hint = this.classNames.size === 0
          ? "this pipeline has no id2label table; give class ids"
          : `e.g. ${[...bySynonym.keys()].slice(0, 5).join(", ")}`;
        throw new OptionError(`unknown class name "${name}" (${hint})`);
      }
      return id;
    });
  }

  /**
   * Images per denoising batch such that the largest activation of a forward pass (the MLP's
   * hidden states, [rows, 4·C] f32) fits one storage binding; kernels bind tensors whole.
   */
  maxBatch(cfgScale: number): number {
    const rowsPerImage = (isGuided(cfgScale) ? 2 : 1) * this.transformer.tokens();
    const bytesPerImage = rowsPerImage * 4 * hiddenSize(this.transformer.config) * 4;
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    if (bytesPerImage > limit) {
      throw new OptionError(
        `one image needs an MLP activation of [${rowsPerImage}, ${
          4 * hiddenSize(this.transformer.config)
        }] f32 = ${bytesPerImage} bytes, over this device's maxStorageBufferBindingSize of ` +
          `${limit} bytes`,
      );
    }
    return Math.floor(limit / bytesPerImage);
  }

  /** Denoises latents for `labels` and decodes them to images. */
  async generate(options: DiTGenerateOptions): Promise<DiTGenerateResult> {
    if (this.#released) throw new Error("DiTPipeline used after release()");
    const settings = this.#settings(options);
    const { labels } = options;
    checkLabels(this.transformer, labels);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new OptionError(`seed must be an integer, got ${seed}`);
    const limit = this.maxBatch(settings.cfgScale);
    const batchSize = options.batchSize ?? limit;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new OptionError(`batch size must be a positive integer, got ${batchSize}`);
    }
    const perBatch = Math.min(batchSize, limit);
    const { inChannels, sampleSize } = this.transformer.config;
    const perImage = inChannels * sampleSize * sampleSize;
    const latents = new Float32Array(labels.length * perImage);
    const stepSeconds: number[][] = [];
    const parts = Math.ceil(labels.length / perBatch);
    for (let part = 0; part < parts; part++) {
      const first = part * perBatch;
      const count = Math.min(perBatch, labels.length - first);
      const scheduler = schedulerFromConfig(this.scheduler, {
        sampler: settings.sampler,
        steps: settings.steps,
        seed,
        samples: count,
        valuesPerSample: perImage,
        firstSample: first,
      });
      const result = await sampleDiT(this.transformer, {
        labels: labels.slice(first, first + count),
        steps: settings.steps,
        cfgScale: settings.cfgScale,
        seed,
        guidedChannels: options.guidedChannels,
        scheduler,
        plan: options.plan ? planOf(options.plan) : undefined,
        noise: batchNoise(seed, count, perImage, 0, first),
        onStep: (step, steps, seconds) =>
          options.onStep?.({ step, steps, stepSeconds: seconds, part, parts }),
      });
      latents.set(result.samples, first * perImage);
      stepSeconds.push(result.stepSeconds);
    }
    const started = performance.now();
    const images = await this.decode(latents, labels.length, options.onDecode);
    const size = this.imageSize;
    return {
      images,
      shape: [labels.length, this.vae.config.outChannels, size, size],
      latents,
      latentShape: [labels.length, inChannels, sampleSize, sampleSize],
      stepSeconds,
      decodeSeconds: (performance.now() - started) / 1000,
    };
  }

  /** Decodes latents [count, C, h, w] to images in [0, 1], one image at a time. */
  async decode(
    latents: Float32Array,
    count: number,
    onDecode?: (image: number, images: number) => void,
  ): Promise<Float32Array> {
    const { inChannels, sampleSize } = this.transformer.config;
    const perLatent = inChannels * sampleSize * sampleSize;
    const size = this.imageSize;
    const perImage = this.vae.config.outChannels * size * size;
    const images = new Float32Array(count * perImage);
    for (let i = 0; i < count; i++) {
      const z = Tensor.fromArray(
        this.gpu,
        latents.subarray(i * perLatent, (i + 1) * perLatent),
        [1, inChannels, sampleSize, sampleSize],
        "f32",
        "latents",
      );
      const image = this.vae.decode(z);
      z.release();
      try {
        images.set(await image.toFloat32(), i * perImage);
      } finally {
        image.release();
      }
      onDecode?.(i + 1, count);
    }
    return images;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.transformer.release();
    this.vae.release();
  }

  /** Steps, sampler and guidance: the plan's when there is one (conflicting options refused). */
  #settings(options: DiTGenerateOptions): {
    steps: number;
    sampler: SamplerName;
    cfgScale: number;
  } {
    if (options.plan) checkPlanFits(options.plan, ditPlanFit(this.transformer), options.plan.steps);
    const settings = planSettings(options.plan, options, {
      steps: 50,
      sampler: chooseSampler(this.scheduler, options.sampler),
      cfgScale: 4,
    });
    return { ...settings, sampler: chooseSampler(this.scheduler, settings.sampler) };
  }
}

function checkDtype(dtype: string | undefined): "f32" | "f16" {
  const chosen = dtype ?? "f32";
  if (chosen !== "f32" && chosen !== "f16") {
    throw new OptionError(`weight dtype must be f32 or f16, got ${chosen}`);
  }
  return chosen;
}
