/** `generate`: class-conditional samples from a DiT folder to a PNG grid. */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { commandValues } from "./args.ts";
import { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import { DiTModel } from "../models/dit/model.ts";
import { checkLabels, sampleDiT } from "../models/dit/sample.ts";
import { ditCostShape } from "../models/dit/cost.ts";
import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { splitImages, writeImageGrid } from "./images.ts";
import { parseLabels, readLabelInfo } from "./labels.ts";
import { ProgressBar } from "./progress.ts";
import { colsOption, SAMPLING_OPTIONS } from "./options.ts";
import { samplingSettings } from "./settings.ts";
import { checkOutputPath, getGpu, localFolder } from "../deno.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import { logPlanCost, warnIfLongSampling } from "./estimate.ts";
import { ditTarget } from "../calibrate/targets/mod.ts";

export const DEFAULT_MODEL = new URL("../assets/tiny-fmnist", import.meta.url).pathname;

const HELP = `deno task generate [options]
  --model DIR       diffusers DiT folder (default: the embedded tiny-fmnist model)
  --labels LIST     class indices or names, comma-separated, or "all" (default: all)
  --steps N         denoising steps (default 20)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE}, ≤1 turns guidance off (default 4)
  --seed N          noise seed, an integer 0 … ${MAX_SEED} (default 0)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default ddim)
  --plan FILE       compression plan from 'calibrate' (its steps, sampler and cfg are used;
                    giving other values is an error)
  --dtype f32|f16   weight storage on the GPU (default f32)
  --out FILE        output PNG (default out/samples.png)
  --cols N          grid columns`;

export async function generateCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    model: { type: "string", default: DEFAULT_MODEL },
    labels: { type: "string", default: "all" },
    ...SAMPLING_OPTIONS,
    out: { type: "string", default: "out/samples.png" },
    cols: { type: "string" },
  }, HELP);
  if (!values) return;
  // Every option, the plan and the output path are checked before loading or GPU work.
  const { dtype, requested, resolved } = await samplingSettings(values, SAMPLING_DEFAULTS.dit);
  const { seed, plan } = requested;
  colsOption(values.cols);
  await checkOutputPath(values.out!);
  const info = await readLabelInfo(values.model!);
  const gpu = await getGpu();
  const model = await DiTModel.load(gpu, localFolder(values.model!), { dtype });
  const { config } = model;
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw new OptionError(
      `${values.model} is a latent model (${config.inChannels} channels): images need a VAE ` +
        `decoder; run 'pipeline --transformer ${values.model} --vae VAE_DIR' instead`,
    );
  }
  const labels = parseLabels(values.labels!, info, config.numClasses);
  checkLabels(model, labels);
  const cols = colsOption(values.cols, labels.length);
  const compressed = plan ? await CompressedSampler.fromPlan(ditTarget(model), plan) : null;
  const { steps } = resolved;
  const costShape = ditCostShape(config, model.tokens());
  warnIfLongSampling(gpu, costShape, model.layers, resolved, labels.length);
  const progress = new ProgressBar("sampling", steps);
  const started = performance.now();
  const onStep = (step: number) => progress.update(step + 1);
  const result = compressed
    ? await compressed.sample({ labels, seed, onStep })
    : await sampleDiT(model, {
      labels,
      steps,
      cfgScale: resolved.cfgScale,
      seed,
      sampler: resolved.sampler,
      onStep,
    });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  const border = info.cropBorder;
  const images = splitImages(result.samples, result.shape, border);
  const size = {
    channels: config.inChannels,
    height: config.sampleSize - 2 * border,
    width: config.sampleSize - 2 * border,
  };
  await writeImageGrid(values.out!, images, size, cols);
  const names = labels.map((l) => info.names[l] ?? String(l));
  console.log(
    `wrote ${values.out}: ${labels.length} samples (${names.join(", ")}) in ${seconds.toFixed(1)}s`,
  );
  if (plan) logPlanCost(values.plan!, plan, costShape);
  model.release();
}
