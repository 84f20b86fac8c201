/** `pipeline`: ImageNet-class images from a DiT transformer + VAE (a diffusers DiTPipeline). */

import { commandValues } from "./args.ts";
import { DiTPipeline } from "../models/dit/pipeline.ts";
import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { splitImages, writeImageGrid } from "./images.ts";
import { GenerationProgress } from "./progress.ts";
import { colsOption, numberOption, SAMPLING_OPTIONS } from "./options.ts";
import { samplingSettings } from "./settings.ts";
import { checkOutputPath, getGpu, localFolder, readSchedulerConfigFile } from "../deno.ts";
import { ditCostShape } from "../models/dit/cost.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { logPlanCost, warnIfLongSampling } from "./estimate.ts";

const PIPELINE_DEFAULTS = { steps: 50, sampler: "ddim", cfgScale: 4 } as const;

const HELP = `deno task pipeline [options]
  --pipeline ROOT     diffusers DiT pipeline folder: transformer/, vae/,
                      scheduler/scheduler_config.json (model_index.json names the classes)
  --transformer DIR   a DiT transformer folder, instead of --pipeline (needs --vae)
  --vae DIR           an AutoencoderKL folder (with --transformer)
  --scheduler FILE    a scheduler_config.json (with --transformer; default DiT's DDIM schedule)
  --labels LIST       ImageNet class ids or names, comma-separated (default 207)
  --steps N           denoising steps (default 50)
  --cfg S             guidance scale 0 … ${MAX_CFG_SCALE}, ≤1 turns guidance off (default 4)
  --seed N            noise seed, an integer 0 … ${MAX_SEED} (default 0); image i always gets
                      stream i
  --sampler NAME      ${SAMPLER_NAMES.join(" | ")} (default: the scheduler config's class)
  --plan FILE         compression plan from 'calibrate --model ROOT/transformer' (fixes steps,
                      sampler and cfg)
  --dtype f32|f16     weight storage of the transformer linears and VAE convs (default f32)
  --batch N           images per denoising batch (default: as many as fit one binding)
  --out FILE          PNG grid (default out/dit.png)
  --separate          also write one PNG per image next to --out
  --cols N            grid columns`;

function integerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = numberOption(value, name, NaN);
  if (!Number.isInteger(n)) throw new OptionError(`--${name} must be an integer, got "${value}"`);
  return n;
}

/** Output path of image i: "out/dit.png" → "out/dit-3-207.png". */
function separatePath(grid: string, index: number, label: number): string {
  const stem = grid.endsWith(".png") ? grid.slice(0, -4) : grid;
  return `${stem}-${index}-${label}.png`;
}

export async function pipelineCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    pipeline: { type: "string" },
    transformer: { type: "string" },
    vae: { type: "string" },
    scheduler: { type: "string" },
    labels: { type: "string", default: "207" },
    ...SAMPLING_OPTIONS,
    batch: { type: "string" },
    out: { type: "string", default: "out/dit.png" },
    separate: { type: "boolean", default: false },
    cols: { type: "string" },
  }, HELP);
  if (!values) return;
  // Every option is checked before gigabytes of weights are read.
  const root = values.pipeline;
  if (root !== undefined && (values.transformer || values.vae || values.scheduler)) {
    throw new OptionError("give either --pipeline ROOT or --transformer/--vae/--scheduler");
  }
  if (root === undefined && (!values.transformer || !values.vae)) {
    throw new OptionError("give --pipeline ROOT, or both --transformer DIR and --vae DIR");
  }
  // --steps may be any integer here: the pipeline checks the range.
  const { dtype, requested, resolved } = await samplingSettings(
    values,
    PIPELINE_DEFAULTS,
    (steps) => integerOption(steps, "steps"),
  );
  const batchSize = integerOption(values.batch, "batch");
  const parts = values.labels!.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new OptionError("no class labels given");
  const cols = colsOption(values.cols, parts.length);
  await checkOutputPath(values.out!);

  const gpu = await getGpu();
  const started = performance.now();
  const pipeline = root !== undefined
    ? await DiTPipeline.load(gpu, localFolder(root), { dtype })
    : await DiTPipeline.fromFolders(gpu, {
      transformer: localFolder(values.transformer!),
      vae: localFolder(values.vae!),
      scheduler: values.scheduler ? await readSchedulerConfigFile(values.scheduler) : undefined,
    }, { dtype });
  try {
    console.log(
      `loaded ${root ?? values.transformer} (${dtype}) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)}s`,
    );
    const labels = parts.map((p) => /^\d+$/.test(p) ? Number(p) : pipeline.labelIds([p])[0]);
    if (values.separate) {
      for (const [i, label] of labels.entries()) {
        await checkOutputPath(separatePath(values.out!, i, label));
      }
    }
    const model = pipeline.transformer;
    const costShape = ditCostShape(model.config, model.tokens());
    warnIfLongSampling(gpu, costShape, model.layers, resolved, labels.length);
    const progress = new GenerationProgress("denoising", "images");
    const result = await pipeline.generate({
      labels,
      ...requested,
      batchSize,
      onStep: ({ step, steps, part, parts }) =>
        progress.step(part * steps + step + 1, steps * parts),
      onDecode: progress.decoded,
    });
    progress.done();
    const [, channels, height, width] = result.shape;
    const images = splitImages(result.images, result.shape);
    await writeImageGrid(values.out!, images, { channels, height, width }, cols, "unit");
    if (values.separate) {
      for (const [i, image] of images.entries()) {
        await writeImageGrid(
          separatePath(values.out!, i, labels[i]),
          [image],
          { channels, height, width },
          1,
          "unit",
        );
      }
    }
    const stepTimes = result.stepSeconds.flat();
    const meanStep = stepTimes.reduce((a, b) => a + b, 0) / Math.max(stepTimes.length, 1);
    const names = labels.map((l) => pipeline.classNames.get(l)?.split(",")[0] ?? String(l));
    console.log(
      `wrote ${values.out}: ${labels.length} image(s) ${width}×${height} (${names.join(", ")}); ` +
        `${meanStep.toFixed(2)} s/step, VAE decode ${result.decodeSeconds.toFixed(1)}s`,
    );
    if (requested.plan) logPlanCost(values.plan!, requested.plan, costShape);
  } finally {
    pipeline.release();
  }
}
