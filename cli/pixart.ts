/** `pixart`: text-to-image PNGs from a PixArt folder, a VAE folder and precomputed prompt embeddings. */

import { parseArgs } from "node:util";
import { pixartPlanFit } from "../models/pixart/cost.ts";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { pixartLatentGrid } from "../models/pixart/sample.ts";
import { upscaleFactor } from "../models/vae/config.ts";
import { planCost } from "../src/compression/plan.ts";
import { planOf, planSettings } from "../src/compression/plan_file.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { writeImageGrid } from "./images.ts";
import { ProgressBar } from "./progress.ts";
import {
  cfgOption,
  colsOption,
  dtypeOption,
  listOption,
  positiveIntegerOption,
  requireOption,
  samplerOption,
  seedOption,
} from "./options.ts";
import {
  checkOutputPath,
  getGpu,
  loadPlan,
  localFolder,
  readPromptEmbeddingFile,
} from "../deno.ts";
import { pixartCostShape } from "../models/pixart/cost.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { warnIfLongRun } from "./estimate.ts";

const HELP = `deno task pixart [options]
  --model DIR       diffusers PixArtTransformer2DModel folder (required)
  --vae DIR         diffusers AutoencoderKL folder (required)
  --prompt FILES    prompt embedding safetensors ("prompt_embeds" [L, C], "prompt_attention_mask" [L]),
                    comma-separated: one image each (required)
  --negative FILE   the negative or empty prompt's embeddings (required when --cfg > 1)
  --height PX       image height in pixels (default: the model's trained size)
  --width PX        image width in pixels (default: the model's trained size)
  --steps N         denoising steps (default 20)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE}, ≤1 turns guidance off (default 4.5)
  --seed N          noise seed, an integer 0 … ${MAX_SEED} (default 0)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default dpm-solver++)
  --plan FILE       compression plan calibrated for this model and size (its steps, sampler and cfg are used)
  --dtype f32|f16   weight storage on the GPU (default f32)
  --out FILE        output PNG grid (default out/pixart.png)
  --cols N          grid columns`;

const PIXART_DEFAULTS = { steps: 20, sampler: "dpm-solver++", cfgScale: 4.5 } as const;

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
    height: positiveIntegerOption(values.height, "height"),
    width: positiveIntegerOption(values.width, "width"),
  };
  const seed = seedOption(values.seed);
  const cols = colsOption(values.cols, promptPaths.length);
  // Left undefined when not given, so a plan's settings apply and a contradicting option is
  // refused rather than silently overridden.
  const steps = positiveIntegerOption(values.steps, "steps");
  const cfgScale = cfgOption(values.cfg);
  const plan = values.plan ? await loadPlan(values.plan) : undefined;
  // The pipeline refuses these too; checked here as well so the error comes before any loading.
  planSettings(plan, { steps, sampler, cfgScale }, PIXART_DEFAULTS);
  await checkOutputPath(values.out!);

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
    const grid = pixartLatentGrid(model, {
      ...size,
      vaeScaleFactor: upscaleFactor(pipeline.vae.config),
    });
    warnIfLongRun(
      gpu,
      pixartCostShape(model.config, model.tokens(grid.latentHeight, grid.latentWidth)),
      {
        layers: model.layers,
        steps: plan?.steps ?? steps ?? 20,
        samples: prompts.length * ((plan?.cfgScale ?? cfgScale ?? 4.5) > 1 ? 2 : 1),
      },
    );
    let progress: ProgressBar | null = null;
    let decoding: ProgressBar | null = null;
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
      onDecode: (image, images) => {
        if (!decoding) {
          // Ends the sampling bar's line before the decoding bar starts its own.
          (progress as ProgressBar | null)?.done();
          progress = null;
          decoding = new ProgressBar("decoding", images, "images");
        }
        decoding.update(image);
      },
    });
    (progress as ProgressBar | null)?.done();
    (decoding as ProgressBar | null)?.done();
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
