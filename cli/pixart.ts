/** `pixart`: text-to-image PNGs from a PixArt folder, a VAE folder and precomputed prompt embeddings. */

import { parseArgs } from "node:util";
import { pixartPlanFit } from "../models/pixart/cost.ts";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { pixartLatentGrid } from "../models/pixart/sample.ts";
import { upscaleFactor } from "../models/vae/config.ts";
import { planCost } from "../src/compression/plan.ts";
import { planOf } from "../src/compression/plan_file.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { writeImageGrid } from "./images.ts";
import { ProgressBar } from "./progress.ts";
import { dtypeOption, listOption, numberOption, requireOption, samplerOption } from "./options.ts";
import { getGpu, loadPlan, localFolder, readPromptEmbeddingFile } from "../deno.ts";

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
      sampler: { type: "string" },
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
  const sampler = values.sampler === undefined ? undefined : samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const size = {
    height: values.height === undefined ? undefined : numberOption(values.height, "height", 0),
    width: values.width === undefined ? undefined : numberOption(values.width, "width", 0),
  };
  const seed = numberOption(values.seed, "seed", 0);
  const cols = values.cols === undefined ? undefined : numberOption(values.cols, "cols", 0);
  // Left undefined when not given, so a plan's settings apply and a contradicting option is
  // refused rather than silently overridden.
  const steps = values.steps === undefined ? undefined : numberOption(values.steps, "steps", 20);
  const cfgScale = values.cfg === undefined ? undefined : numberOption(values.cfg, "cfg", 4.5);
  const plan = values.plan ? await loadPlan(values.plan) : undefined;

  const gpu = await getGpu();
  const pipeline = await PixArtPipeline.fromFolders(gpu, {
    transformer: localFolder(modelDir),
    vae: localFolder(vaeDir),
  }, { dtype });
  try {
    const model = pipeline.transformer;
    const { captionChannels } = model.config;
    const prompts = await Promise.all(
      promptPaths.map((p) => readPromptEmbeddingFile(p, captionChannels)),
    );
    const negative = values.negative === undefined
      ? undefined
      : await readPromptEmbeddingFile(values.negative, captionChannels);
    if (plan) {
      const grid = pixartLatentGrid(model, {
        ...size,
        vaeScaleFactor: upscaleFactor(pipeline.vae.config),
      });
      const cost = planCost(planOf(plan), pixartPlanFit(model, grid).costShape);
      console.log(
        `plan ${values.plan}: attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% ` +
          `of full, model MACs ${(100 * cost.modelMacs / cost.fullModelMacs).toFixed(1)}%`,
      );
    }
    let progress: ProgressBar | null = null;
    const result = await pipeline.generate({
      prompts,
      negative,
      ...size,
      steps,
      cfgScale,
      seed,
      sampler,
      plan,
      onStep: (step, total) => {
        progress ??= new ProgressBar("sampling", total);
        progress.update(step + 1);
      },
    });
    (progress as ProgressBar | null)?.done();
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
