/**
 * `pixart-calibrate`: greedy DiTFastAttn calibration of a PixArt model at one image size, on
 * calibration captions given as text (encoded by T5 first, which is released before the
 * transformer is loaded) or as precomputed embeddings.
 */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { join } from "node:path";
import { commandValues } from "./args.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { pixartTarget } from "../calibrate/targets/mod.ts";
import { PIXART_VAE_SCALE } from "../models/pixart/sample.ts";
import { parseVaeConfig, upscaleFactor } from "../models/vae/config.ts";
import { OptionError } from "../src/errors.ts";
import { isGuided } from "../src/sampling/sample_loop.ts";
import { calibrateAndSave } from "./calibrate_and_save.ts";
import { CALIBRATION_OPTIONS, numberOption } from "./options.ts";
import { calibrationHelp, calibrationSettings } from "./settings.ts";
import { PIXART_TEXT_OPTIONS, pixartCaptions, pixartTextHelp } from "./pixart_text.ts";
import { checkOutputPath, getGpu, localFolder, readJsonFile } from "../deno.ts";

/** What the search is for unless told otherwise, and the help's words for it. */
const PIXART_CALIBRATION = {
  ...SAMPLING_DEFAULTS.pixart,
  window: "tokens (default N/8)",
  out: "out/pixart-plan.json",
} as const;

const HELP = `deno task pixart-calibrate [options]
  --pipeline DIR       diffusers PixArt pipeline folder (text encoder, tokenizer, transformer, VAE)
  --model DIR          or: a diffusers PixArtTransformer2DModel folder
  --text-encoder DIR   with --model: the T5EncoderModel folder for text captions
  --tokenizer DIR      its tokenizer folder (default: --text-encoder)
${pixartTextHelp("calibration sample")}
  --threshold D     δ, the error budget of the greedy search (required, > 0; paper: 0.025–0.15)
  --height PX       image height the plan is for (default: the model's trained size)
  --width PX        image width the plan is for (default: the model's trained size)
  --vae-scale F     pixels per latent of the VAE (default: the pipeline's VAE, else ${PIXART_VAE_SCALE})
${calibrationHelp(PIXART_CALIBRATION)}`;

export async function pixartCalibrateCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    ...CALIBRATION_OPTIONS,
    pipeline: { type: "string" },
    model: { type: "string" },
    ...PIXART_TEXT_OPTIONS,
    height: { type: "string" },
    width: { type: "string" },
    "vae-scale": { type: "string" },
    out: { type: "string", default: PIXART_CALIBRATION.out },
  }, HELP);
  if (!values) return;
  if ((values.pipeline === undefined) === (values.model === undefined)) {
    throw new OptionError("give --pipeline DIR or --model DIR (one of them)");
  }
  if (values.pipeline !== undefined && (values["text-encoder"] ?? values.tokenizer) !== undefined) {
    throw new OptionError(
      "--pipeline holds the text encoder; leave out --text-encoder/--tokenizer",
    );
  }
  const captions = await pixartCaptions(values);
  const textEncoder = values["text-encoder"];
  if (captions.kind === "text" && values.pipeline === undefined && textEncoder === undefined) {
    throw new OptionError("text captions need --pipeline DIR, or --text-encoder DIR with --model");
  }
  const { dtype, seed, search } = calibrationSettings(values, PIXART_CALIBRATION);
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
  await checkOutputPath(values.out!);
  const modelDir = values.model ?? join(values.pipeline!, "transformer");

  const gpu = await getGpu();
  // T5 is loaded, run and released before the transformer is loaded.
  const encoded = captions.kind === "embeds" ? undefined : await captions.encode(
    gpu,
    values.pipeline !== undefined ? localFolder(values.pipeline) : {
      textEncoder: localFolder(textEncoder!),
      tokenizer: localFolder(values.tokenizer ?? textEncoder!),
      transformer: localFolder(modelDir),
    },
    { guided: isGuided(search.cfgScale), dtype },
  );
  const model = await PixArtModel.load(gpu, localFolder(modelDir), { dtype });
  try {
    const { prompts, negative } = encoded ??
      await captions.readEmbeddingFiles(model.config.captionChannels);
    const compressed = await calibrateAndSave(
      pixartTarget(model, resolution),
      { prompts, negative, seed },
      search,
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
