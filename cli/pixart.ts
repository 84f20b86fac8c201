/** `pixart`: text-to-image PNGs from a PixArt folder, a VAE folder and precomputed prompt embeddings. */

import { parseArgs } from "node:util";
import { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { pixartAtResolution } from "../calibrate/targets/pixart.ts";
import { checkVaeFits, generatePixArtImages } from "../models/pixart/pipeline.ts";
import { readPromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { upscaleFactor } from "../models/vae/config.ts";
import { OptionError } from "../src/errors.ts";
import { getGpu } from "../src/gpu/context.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { writeImageGrid } from "./images.ts";
import { ProgressBar } from "./progress.ts";
import { dtypeOption, listOption, numberOption, requireOption, samplerOption } from "./options.ts";

const HELP = `deno task pixart [options]
  --model DIR       diffusers PixArtTransformer2DModel folder (required)
  --vae DIR         diffusers AutoencoderKL folder (required)
  --prompt FILES    prompt embedding safetensors ("prompt_embeds" [L, C], "prompt_attention_mask" [L]),
                    comma-separated: one image each (required)
  --negative FILE   the negative or empty prompt's embeddings (required when --cfg > 1)
  --height PX       image height in pixels (default: the model's trained size)
  --width PX        image width in pixels (default: the model's trained size)
  --steps N         denoising steps (default 20)
  --cfg S           guidance scale, ≤1 turns guidance off (default 4.5)
  --seed N          noise seed (default 0)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default dpm-solver++)
  --plan FILE       compression plan calibrated for this model and size (its steps, sampler and cfg are used)
  --dtype f32|f16   weight storage on the GPU (default f32)
  --out FILE        output PNG grid (default out/pixart.png)
  --cols N          grid columns`;

export async function pixartCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      vae: { type: "string" },
      prompt: { type: "string" },
      negative: { type: "string" },
      height: { type: "string" },
      width: { type: "string" },
      steps: { type: "string" },
      cfg: { type: "string" },
      seed: { type: "string" },
      sampler: { type: "string", default: "dpm-solver++" },
      plan: { type: "string" },
      dtype: { type: "string", default: "f32" },
      out: { type: "string", default: "out/pixart.png" },
      cols: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  // Option errors come before loading anything or touching the GPU.
  const modelDir = requireOption(values.model, "model");
  const vaeDir = requireOption(values.vae, "vae");
  const promptPaths = listOption(requireOption(values.prompt, "prompt"));
  const sampler = samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const size = {
    height: values.height === undefined ? undefined : numberOption(values.height, "height", 0),
    width: values.width === undefined ? undefined : numberOption(values.width, "width", 0),
  };
  const seed = numberOption(values.seed, "seed", 0);
  const cols = values.cols === undefined ? undefined : numberOption(values.cols, "cols", 0);
  let steps = numberOption(values.steps, "steps", 20);
  let cfgScale = numberOption(values.cfg, "cfg", 4.5);

  const gpu = await getGpu();
  const model = await PixArtModel.load(gpu, modelDir, { dtype });
  const vae = await VaeDecoder.load(gpu, vaeDir);
  try {
    checkVaeFits(model, vae);
    const { captionChannels } = model.config;
    const prompts = await Promise.all(
      promptPaths.map((p) => readPromptEmbedding(p, captionChannels)),
    );
    const negative = values.negative === undefined
      ? undefined
      : await readPromptEmbedding(values.negative, captionChannels);
    const resolution = { ...size, vaeScaleFactor: upscaleFactor(vae.config) };
    let plan = undefined;
    let samplerName = sampler;
    if (values.plan) {
      const compressed = await CompressedSampler.load(
        pixartAtResolution(model, resolution),
        values.plan,
      );
      if (values.steps !== undefined && steps !== compressed.planFile.steps) {
        throw new OptionError(
          `--steps ${steps} does not match the plan's ${compressed.planFile.steps} steps`,
        );
      }
      ({ steps, cfgScale, sampler: samplerName } = compressed.planFile);
      plan = compressed.plan;
      const cost = compressed.cost();
      console.log(
        `plan ${values.plan}: attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% ` +
          `of full, model MACs ${(100 * cost.modelMacs / cost.fullModelMacs).toFixed(1)}%`,
      );
    }
    const progress = new ProgressBar("sampling", steps);
    const result = await generatePixArtImages(model, vae, {
      prompts,
      negative,
      ...size,
      steps,
      cfgScale,
      seed,
      sampler: samplerName,
      plan,
      onStep: (step) => progress.update(step + 1),
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
    vae.release();
    model.release();
  }
}
