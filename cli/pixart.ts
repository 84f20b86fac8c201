/**
 * `pixart`: text-to-image PNGs from a diffusers PixArt pipeline folder (text encoder, tokenizer,
 * transformer, VAE), or from a transformer folder and a VAE folder with a text encoder folder or
 * precomputed caption embeddings.
 */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { commandValues } from "./args.ts";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { isGuided, MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { OptionError } from "../src/errors.ts";
import { writeImageGrid } from "./images.ts";
import { logPlanCost, warnIfLongSampling } from "./estimate.ts";
import { GenerationProgress } from "./progress.ts";
import { colsOption, positiveIntegerOption, SAMPLING_OPTIONS } from "./options.ts";
import { samplingSettings } from "./settings.ts";
import { PIXART_TEXT_OPTIONS, pixartCaptions, pixartTextHelp } from "./pixart_text.ts";
import { checkOutputPath, getGpu, localFolder } from "../deno.ts";

const HELP = `deno task pixart [options]
  --pipeline DIR       diffusers PixArt pipeline folder (model_index.json, text_encoder/,
                       tokenizer/, transformer/, vae/); or instead:
  --model DIR          diffusers PixArtTransformer2DModel folder
  --vae DIR            diffusers AutoencoderKL folder
  --text-encoder DIR   transformers T5EncoderModel folder (with --model, for text captions)
  --tokenizer DIR      its tokenizer folder, spiece.model or tokenizer.json (default: --text-encoder)
${pixartTextHelp("image")}
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
  const values = commandValues(args, {
    pipeline: { type: "string" },
    model: { type: "string" },
    vae: { type: "string" },
    ...PIXART_TEXT_OPTIONS,
    height: { type: "string" },
    width: { type: "string" },
    ...SAMPLING_OPTIONS,
    out: { type: "string", default: "out/pixart.png" },
    cols: { type: "string" },
  }, HELP);
  if (!values) return;
  // Option errors come before loading anything or touching the GPU.
  const folders = folderOptions(values);
  const { dtype, requested, resolved } = await samplingSettings(values, SAMPLING_DEFAULTS.pixart);
  const size = {
    height: positiveIntegerOption(values.height, "height"),
    width: positiveIntegerOption(values.width, "width"),
  };
  const captions = await pixartCaptions(values);
  const cols = colsOption(values.cols, captions.count);
  if (
    captions.kind === "text" && folders.pipeline === undefined && folders.text === undefined
  ) {
    throw new OptionError(
      "text captions need a text encoder: --pipeline DIR, or --text-encoder DIR with --model",
    );
  }
  await checkOutputPath(values.out!);

  const gpu = await getGpu();
  let prompts: readonly PromptEmbedding[] | readonly string[] = captions.texts;
  let negative: PromptEmbedding | undefined;
  let pipeline: PixArtPipeline;
  if (folders.pipeline !== undefined) {
    // Text is encoded inside generate, before the transformer is loaded.
    pipeline = await PixArtPipeline.load(gpu, localFolder(folders.pipeline), {
      dtype,
      textDtype: captions.textDtype,
    });
  } else {
    if (folders.text) {
      // T5 first, released before the transformer is loaded.
      ({ prompts, negative } = await captions.encode(gpu, {
        textEncoder: localFolder(folders.text.textEncoder),
        tokenizer: localFolder(folders.text.tokenizer),
        transformer: localFolder(folders.model),
      }, { guided: isGuided(resolved.cfgScale), dtype }));
    }
    pipeline = await PixArtPipeline.fromFolders(gpu, {
      transformer: localFolder(folders.model),
      vae: localFolder(folders.vae),
    }, { dtype });
  }
  try {
    if (captions.kind === "embeds") {
      ({ prompts, negative } = await captions.readEmbeddingFiles(
        pipeline.transformerConfig.captionChannels,
      ));
    }
    const { costShape } = pipeline.planFit(size);
    if (requested.plan) logPlanCost(values.plan!, requested.plan, costShape);
    const layers = pipeline.transformerConfig.numLayers;
    warnIfLongSampling(gpu, costShape, layers, resolved, prompts.length);
    const progress = new GenerationProgress("sampling", "images");
    const result = await pipeline.generate({
      prompts,
      negative,
      negativePrompt: typeof prompts[0] === "string" ? captions.negativeText : undefined,
      ...captions.text,
      onEncode: captions.onEncode,
      onEncoded: captions.onEncoded,
      ...size,
      ...requested,
      onStep: progress.onStep,
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
