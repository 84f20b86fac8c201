/**
 * `pixart-calibrate`: greedy DiTFastAttn calibration of a PixArt model at one image size, on
 * calibration captions given as text (encoded by T5 first, which is released before the
 * transformer is loaded) or as precomputed embeddings.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { PixArtModel } from "../models/pixart/model.ts";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { pixartTarget } from "../calibrate/targets/mod.ts";
import { PIXART_VAE_SCALE } from "../models/pixart/sample.ts";
import { parseVaeConfig, upscaleFactor } from "../models/vae/config.ts";
import { OptionError } from "../src/errors.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { isGuided } from "../src/sampling/sample_loop.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { calibrateAndSave } from "./calibrate_and_save.ts";
import {
  CALIBRATION_OPTIONS,
  cfgOption,
  dtypeOption,
  numberOption,
  positiveIntegerOption,
  samplerOption,
  seedOption,
  thresholdOption,
} from "./options.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
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
  localFolder,
  readJsonFile,
  readPromptEmbeddingFile,
} from "../deno.ts";

const HELP = `deno task pixart-calibrate [options]
  --pipeline DIR       diffusers PixArt pipeline folder (text encoder, tokenizer, transformer, VAE)
  --model DIR          or: a diffusers PixArtTransformer2DModel folder
  --text-encoder DIR   with --model: the T5EncoderModel folder for text captions
  --tokenizer DIR      its tokenizer folder (default: --text-encoder)
${
  promptHelp(
    "calibration sample",
    "the pipeline's: 120 for PixArt-α, 300 for Σ;\n                       120 without --pipeline",
  )
}
  --negative-prompt T  the negative caption with text captions (default "")
  --negative FILE      the negative or empty caption's embeddings (with --prompt-embeds; required
                       when --cfg > 1)
  --threshold D     δ, the error budget of the greedy search (required, > 0; paper: 0.025–0.15)
  --height PX       image height the plan is for (default: the model's trained size)
  --width PX        image width the plan is for (default: the model's trained size)
  --vae-scale F     pixels per latent of the VAE (default: the pipeline's VAE, else ${PIXART_VAE_SCALE})
  --steps N         sampling steps the plan is for (default 20)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default dpm-solver++)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE} (default 4.5)
  --window W        band half-width in tokens (default N/8)
  --seed N          seed of the calibration noise, an integer 0 … ${MAX_SEED} (default 0)
  --dtype f32|f16   weight storage on the GPU (default f32)
  --out FILE        plan file to write (default out/pixart-plan.json)`;

export async function pixartCalibrateCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...CALIBRATION_OPTIONS,
      pipeline: { type: "string" },
      model: { type: "string" },
      ...PROMPT_OPTIONS,
      "negative-prompt": { type: "string" },
      negative: { type: "string" },
      height: { type: "string" },
      width: { type: "string" },
      "vae-scale": { type: "string" },
      sampler: { type: "string", default: "dpm-solver++" },
      out: { type: "string", default: "out/pixart-plan.json" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if ((values.pipeline === undefined) === (values.model === undefined)) {
    throw new OptionError("give --pipeline DIR or --model DIR (one of them)");
  }
  if (values.pipeline !== undefined && (values["text-encoder"] ?? values.tokenizer) !== undefined) {
    throw new OptionError(
      "--pipeline holds the text encoder; leave out --text-encoder/--tokenizer",
    );
  }
  const input = await promptInput(values);
  const text = textOptions(values);
  const textEncoder = values["text-encoder"];
  if (input.kind === "text") {
    if (values.pipeline === undefined && textEncoder === undefined) {
      throw new OptionError(
        "text captions need --pipeline DIR, or --text-encoder DIR with --model",
      );
    }
    if (values.negative !== undefined) {
      throw new OptionError(
        "--negative FILE goes with --prompt-embeds; use --negative-prompt TEXT",
      );
    }
  } else {
    refuseTextOptions(values);
  }
  const threshold = thresholdOption(values.threshold);
  const sampler = samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const textDtype = values["text-dtype"] === undefined ? dtype : dtypeOption(values["text-dtype"]);
  const vaeScale = values["vae-scale"] === undefined && values.pipeline !== undefined
    ? upscaleFactor(parseVaeConfig(
      await readJsonFile(join(values.pipeline, "vae", "config.json")),
      join(values.pipeline, "vae", "config.json"),
    ))
    : numberOption(values["vae-scale"], "vae-scale", PIXART_VAE_SCALE);
  const resolution = {
    height: values.height === undefined ? undefined : numberOption(values.height, "height", 0),
    width: values.width === undefined ? undefined : numberOption(values.width, "width", 0),
    vaeScaleFactor: vaeScale,
  };
  const steps = positiveIntegerOption(values.steps, "steps") ?? 20;
  const seed = seedOption(values.seed);
  const cfgScale = cfgOption(values.cfg) ?? 4.5;
  await checkOutputPath(values.out!);
  const window = values.window === undefined ? undefined : numberOption(values.window, "window", 0);
  const modelDir = values.model ?? join(values.pipeline!, "transformer");

  const gpu = await getGpu();
  let prompts: PromptEmbedding[];
  let negative: PromptEmbedding | undefined;
  if (input.kind === "text") {
    // T5 is loaded, run and released before the transformer is loaded.
    const encoding = encodingProgress();
    const negativeText = values["negative-prompt"] ?? "";
    const encoded = await PixArtPipeline.encodePrompts(
      gpu,
      values.pipeline !== undefined ? localFolder(values.pipeline) : {
        textEncoder: localFolder(textEncoder!),
        tokenizer: localFolder(values.tokenizer ?? textEncoder!),
        transformer: localFolder(modelDir),
      },
      input.texts,
      {
        ...text,
        negativePrompt: isGuided(cfgScale) ? negativeText : null,
        dtype: textDtype,
        onEncode: encoding.onEncode,
      },
    );
    encoding.done();
    for (const notice of encoded.notices) console.log(`notice: ${notice}`);
    if (values["save-embeddings"] !== undefined) {
      await saveEmbeddings(
        values["save-embeddings"],
        encoded.prompts,
        input.texts,
        encoded.negative ? { embedding: encoded.negative, text: negativeText } : undefined,
      );
    }
    prompts = encoded.prompts;
    negative = encoded.negative;
  }
  const model = await PixArtModel.load(gpu, localFolder(modelDir), { dtype });
  try {
    if (input.kind === "embeds") {
      const { captionChannels } = model.config;
      prompts = await Promise.all(
        input.paths.map((p) => readPromptEmbeddingFile(p, captionChannels)),
      );
      negative = values.negative === undefined
        ? undefined
        : await readPromptEmbeddingFile(values.negative, captionChannels);
    }
    const compressed = await calibrateAndSave(
      pixartTarget(model, resolution),
      { prompts: prompts!, negative, seed },
      { threshold, steps, sampler, cfgScale, window },
      values.out!,
    );
    const cost = compressed.cost();
    console.log(
      `wrote ${values.out}: attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% of ` +
        `full at ${compressed.planFile.model.tokens} tokens; methods ` +
        JSON.stringify(compressed.histogram()),
    );
  } finally {
    model.release();
  }
}
