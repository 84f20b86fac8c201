/**
 * `pixart`: text-to-image PNGs from a diffusers PixArt pipeline folder (text encoder, tokenizer,
 * transformer, VAE), or from a transformer folder and a VAE folder with a text encoder folder or
 * precomputed caption embeddings.
 */

import { parseArgs } from "node:util";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import type { PixArtPromptEmbeddings } from "../models/pixart/text.ts";
import { planCost } from "../src/compression/plan.ts";
import { planOf, planSettings } from "../src/compression/plan_file.ts";
import { OptionError } from "../src/errors.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { isGuided, MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { writeImageGrid } from "./images.ts";
import { warnIfLongRun } from "./estimate.ts";
import { GenerationProgress } from "./progress.ts";
import {
  cfgOption,
  colsOption,
  dtypeOption,
  positiveIntegerOption,
  samplerOption,
  SAMPLING_OPTIONS,
  seedOption,
} from "./options.ts";
import {
  encodingProgress,
  PROMPT_OPTIONS,
  promptHelp,
  promptInput,
  refuseTextOptions,
  saveEmbeddings,
  textOptions,
} from "./prompts.ts";
import {
  checkOutputPath,
  getGpu,
  loadPlan,
  localFolder,
  readPromptEmbeddingFile,
} from "../deno.ts";

const PIXART_DEFAULTS = { steps: 20, sampler: "dpm-solver++", cfgScale: 4.5 } as const;

const HELP = `deno task pixart [options]
  --pipeline DIR       diffusers PixArt pipeline folder (model_index.json, text_encoder/,
                       tokenizer/, transformer/, vae/); or instead:
  --model DIR          diffusers PixArtTransformer2DModel folder
  --vae DIR            diffusers AutoencoderKL folder
  --text-encoder DIR   transformers T5EncoderModel folder (with --model, for text captions)
  --tokenizer DIR      its tokenizer folder, spiece.model or tokenizer.json (default: --text-encoder)
${
  promptHelp(
    "image",
    "the pipeline's: 120 for PixArt-α, 300 for Σ;\n                       120 without --pipeline",
  )
}
  --negative-prompt T  the negative caption with text captions (default "")
  --negative FILE      the negative or empty caption's embeddings (with --prompt-embeds; required
                       when --cfg > 1)
  --height PX          image height in pixels (default: the model's trained size)
  --width PX           image width in pixels (default: the model's trained size)
  --steps N            denoising steps (default 20)
  --cfg S              guidance scale 0 … ${MAX_CFG_SCALE}, ≤1 turns guidance off (default 4.5)
  --seed N             noise seed, an integer 0 … ${MAX_SEED} (default 0)
  --sampler NAME       ${SAMPLER_NAMES.join(" | ")} (default dpm-solver++)
  --plan FILE          compression plan calibrated for this model and size (its steps, sampler and cfg are used)
  --dtype f32|f16      weight storage on the GPU (default f32)
  --out FILE           output PNG grid (default out/pixart.png)
  --cols N             grid columns`;

/** Which folders the command was pointed at. */
function folderOptions(values: {
  pipeline?: string;
  model?: string;
  vae?: string;
  "text-encoder"?: string;
  tokenizer?: string;
}) {
  if (values.pipeline !== undefined) {
    const extra = (["model", "vae", "text-encoder", "tokenizer"] as const).filter((k) =>
      values[k] !== undefined
    );
    if (extra.length > 0) {
      throw new OptionError(
        `--pipeline holds every part; leave out ${extra.map((k) => `--${k}`).join(", ")}`,
      );
    }
    return { pipeline: values.pipeline };
  }
  if (values.model === undefined || values.vae === undefined) {
    throw new OptionError(
      `--${values.model === undefined ? "model" : "vae"} is required (or --pipeline DIR)`,
    );
  }
  if (values.tokenizer !== undefined && values["text-encoder"] === undefined) {
    throw new OptionError("--tokenizer goes with --text-encoder");
  }
  const textEncoder = values["text-encoder"];
  return {
    model: values.model,
    vae: values.vae,
    text: textEncoder === undefined
      ? undefined
      : { textEncoder, tokenizer: values.tokenizer ?? textEncoder },
  };
}

export async function pixartCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      pipeline: { type: "string" },
      model: { type: "string" },
      vae: { type: "string" },
      ...PROMPT_OPTIONS,
      "negative-prompt": { type: "string" },
      negative: { type: "string" },
      height: { type: "string" },
      width: { type: "string" },
      ...SAMPLING_OPTIONS,
      out: { type: "string", default: "out/pixart.png" },
      cols: { type: "string" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  // Option errors come before loading anything or touching the GPU.
  const folders = folderOptions(values);
  const sampler = values.sampler === undefined ? undefined : samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const textDtype = values["text-dtype"] === undefined ? dtype : dtypeOption(values["text-dtype"]);
  const size = {
    height: positiveIntegerOption(values.height, "height"),
    width: positiveIntegerOption(values.width, "width"),
  };
  const seed = seedOption(values.seed);
  // Left undefined when not given, so a plan's settings apply and a contradicting option is
  // refused rather than silently overridden.
  const steps = positiveIntegerOption(values.steps, "steps");
  const cfgScale = cfgOption(values.cfg);
  const input = await promptInput(values);
  const cols = colsOption(
    values.cols,
    input.kind === "text" ? input.texts.length : input.paths.length,
  );
  const text = textOptions(values);
  if (input.kind === "text") {
    if (values.negative !== undefined) {
      throw new OptionError(
        "--negative FILE goes with --prompt-embeds; use --negative-prompt TEXT",
      );
    }
    if (folders.pipeline === undefined && folders.text === undefined) {
      throw new OptionError(
        "text captions need a text encoder: --pipeline DIR, or --text-encoder DIR with --model",
      );
    }
  } else {
    refuseTextOptions(values);
  }
  const plan = values.plan ? await loadPlan(values.plan) : undefined;
  // The pipeline refuses these too; checked here as well so the error comes before any loading.
  planSettings(plan, { steps, sampler, cfgScale }, PIXART_DEFAULTS);
  await checkOutputPath(values.out!);

  const gpu = await getGpu();
  const encoding = encodingProgress();
  const texts = input.kind === "text" ? input.texts : [];
  const negativeText = values["negative-prompt"] ?? "";
  /** Prints the truncation notices and caches the embeddings, as soon as T5 is done. */
  const onEncoded = async (encoded: PixArtPromptEmbeddings) => {
    encoding.done();
    for (const notice of encoded.notices) console.log(`notice: ${notice}`);
    if (values["save-embeddings"] !== undefined) {
      await saveEmbeddings(
        values["save-embeddings"],
        encoded.prompts,
        texts,
        encoded.negative ? { embedding: encoded.negative, text: negativeText } : undefined,
      );
    }
  };
  let prompts: readonly PromptEmbedding[] | readonly string[] = texts;
  let negative: PromptEmbedding | undefined;
  let pipeline: PixArtPipeline;
  if (folders.pipeline !== undefined) {
    // Text is encoded inside generate, before the transformer is loaded.
    pipeline = await PixArtPipeline.load(gpu, localFolder(folders.pipeline), { dtype, textDtype });
  } else {
    if (folders.text) {
      // T5 first, released before the transformer is loaded.
      const guided = isGuided(plan?.cfgScale ?? cfgScale ?? 4.5);
      const encoded = await PixArtPipeline.encodePrompts(
        gpu,
        {
          textEncoder: localFolder(folders.text.textEncoder),
          tokenizer: localFolder(folders.text.tokenizer),
          transformer: localFolder(folders.model),
        },
        texts,
        {
          ...text,
          negativePrompt: guided ? negativeText : null,
          dtype: textDtype,
          onEncode: encoding.onEncode,
        },
      );
      await onEncoded(encoded);
      prompts = encoded.prompts;
      negative = encoded.negative;
    }
    pipeline = await PixArtPipeline.fromFolders(gpu, {
      transformer: localFolder(folders.model),
      vae: localFolder(folders.vae),
    }, { dtype });
  }
  try {
    if (input.kind === "embeds") {
      const { captionChannels } = pipeline.transformerConfig;
      prompts = await Promise.all(
        input.paths.map((p) => readPromptEmbeddingFile(p, captionChannels)),
      );
      negative = values.negative === undefined
        ? undefined
        : await readPromptEmbeddingFile(values.negative, captionChannels);
    }
    if (plan) {
      const cost = planCost(planOf(plan), pipeline.planFit(size).costShape);
      console.log(
        `plan ${values.plan}: attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% ` +
          `of full, model MACs ${(100 * cost.modelMacs / cost.fullModelMacs).toFixed(1)}%`,
      );
    }
    warnIfLongRun(gpu, pipeline.planFit(size).costShape, {
      layers: pipeline.transformerConfig.numLayers,
      steps: plan?.steps ?? steps ?? PIXART_DEFAULTS.steps,
      samples: prompts.length *
        ((plan?.cfgScale ?? cfgScale ?? PIXART_DEFAULTS.cfgScale) > 1 ? 2 : 1),
    });
    const progress = new GenerationProgress("sampling", "images");
    const result = await pipeline.generate({
      prompts,
      negative,
      negativePrompt: typeof prompts[0] === "string" ? negativeText : undefined,
      ...text,
      onEncode: encoding.onEncode,
      onEncoded,
      ...size,
      steps,
      cfgScale,
      seed,
      sampler,
      plan,
      onStep: (step, total) => progress.step(step + 1, total),
      onDecode: progress.decoded,
    });
    progress.done();
    await writeImageGrid(
      values.out!,
      result.images,
      { channels: 3, height: result.height, width: result.width },
      cols,
      "unit",
    );
    const samplingSeconds = result.latents.stepSeconds.reduce((a, b) => a + b, 0);
    console.log(
      `wrote ${values.out}: ${prompts.length} image(s) of ${result.height}×${result.width} px; ` +
        `sampling ${samplingSeconds.toFixed(1)}s, decoding ${result.decodeSeconds.toFixed(1)}s`,
    );
  } finally {
    pipeline.release();
  }
}
