/** `pixart-calibrate`: greedy DiTFastAttn calibration of a PixArt model at one image size. */

import { parseArgs } from "node:util";
import { compress } from "../calibrate/compress.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { pixartTarget } from "../calibrate/targets/mod.ts";
import { PIXART_VAE_SCALE } from "../models/pixart/sample.ts";
import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { ProgressBar } from "./progress.ts";
import {
  cfgOption,
  listOption,
  numberOption,
  positiveIntegerOption,
  samplerOption,
  seedOption,
  thresholdOption,
} from "./options.ts";
import {
  checkOutputPath,
  getGpu,
  localFolder,
  readPromptEmbeddingFile,
  savePlan,
} from "../deno.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";

const HELP = `deno task pixart-calibrate [options]
  --model DIR       diffusers PixArtTransformer2DModel folder (required)
  --prompt FILES    calibration prompt embeddings, comma-separated, one sample each (required)
  --negative FILE   the negative or empty prompt's embeddings (required when --cfg > 1)
  --threshold D     δ, the error budget of the greedy search (required, > 0; paper: 0.025–0.15)
  --height PX       image height the plan is for (default: the model's trained size)
  --width PX        image width the plan is for (default: the model's trained size)
  --vae-scale F     pixels per latent of the VAE (default ${PIXART_VAE_SCALE})
  --steps N         sampling steps the plan is for (default 20)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default dpm-solver++)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE} (default 4.5)
  --window W        band half-width in tokens (default N/8)
  --seed N          seed of the calibration noise, an integer 0 … ${MAX_SEED} (default 0)
  --out FILE        plan file to write (default out/pixart-plan.json)`;

export async function pixartCalibrateCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      negative: { type: "string" },
      threshold: { type: "string" },
      height: { type: "string" },
      width: { type: "string" },
      "vae-scale": { type: "string" },
      steps: { type: "string" },
      sampler: { type: "string", default: "dpm-solver++" },
      cfg: { type: "string" },
      window: { type: "string" },
      seed: { type: "string" },
      out: { type: "string", default: "out/pixart-plan.json" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new OptionError("--model is required");
  if (!values.prompt) throw new OptionError("--prompt is required (calibration prompt files)");
  const threshold = thresholdOption(values.threshold);
  const sampler = samplerOption(values.sampler);
  const resolution = {
    height: values.height === undefined ? undefined : numberOption(values.height, "height", 0),
    width: values.width === undefined ? undefined : numberOption(values.width, "width", 0),
    vaeScaleFactor: numberOption(values["vae-scale"], "vae-scale", PIXART_VAE_SCALE),
  };
  const steps = positiveIntegerOption(values.steps, "steps") ?? 20;
  const seed = seedOption(values.seed);
  const cfgScale = cfgOption(values.cfg) ?? 4.5;
  await checkOutputPath(values.out!);
  const window = values.window === undefined ? undefined : numberOption(values.window, "window", 0);

  const model = await PixArtModel.load(await getGpu(), localFolder(values.model));
  try {
    const { captionChannels } = model.config;
    const prompts = await Promise.all(
      listOption(values.prompt).map((p) => readPromptEmbeddingFile(p, captionChannels)),
    );
    const negative = values.negative === undefined
      ? undefined
      : await readPromptEmbeddingFile(values.negative, captionChannels);
    const progress = new ProgressBar("calibrating", steps);
    const compressed = await compress(
      pixartTarget(model, resolution),
      { prompts, negative, seed },
      {
        threshold,
        steps,
        sampler,
        cfgScale,
        window,
        onProgress: (p) => progress.update(p.step + 1),
      },
    );
    progress.done();
    await savePlan(values.out!, compressed.planFile);
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
