/**
 * `demo`: on the embedded Fashion-MNIST DiT, calibrates plans at several thresholds (cached on
 * disk), samples the same seeds with full attention and with each plan, and writes image grids,
 * a quality-vs-MACs plot and a report (markdown + JSON) to the output folder.
 */

import { join } from "node:path";
import { commandValues } from "./args.ts";
import { compress } from "../calibrate/compress.ts";
import { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import { DiTModel } from "../models/dit/model.ts";
import { configHash } from "../models/dit/config.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import type { LoopResult } from "../src/sampling/sample_loop.ts";
import { OptionError } from "../src/errors.ts";
import { type DemoRow, evaluateRows, writeDemoReport } from "../eval/demo_report.ts";
import { splitImages, writeImageGrid } from "./images.ts";
import { DEFAULT_MODEL } from "./generate.ts";
import { readLabelInfo } from "./labels.ts";
import { formatSeconds, ProgressBar } from "./progress.ts";
import { numberOption, positiveIntegerOption, seedOption } from "./options.ts";
import { checkOutputFolder, getGpu, loadPlan, localFolder, savePlan } from "../deno.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { ditTarget } from "../calibrate/targets/mod.ts";

const HELP = `deno task demo [options]
  --out DIR          output folder (default out/demo)
  --thresholds LIST  δ values (default 0.025,0.05,0.1,0.15)
  --samples N        images per setting, classes in turn (default 20)
  --steps N          DDIM steps (default 20)
  --n-calib N        calibration samples (default 4)
  --seed N           seed of the evaluation noise, an integer 0 … ${MAX_SEED} (default 1000)`;

export interface DemoSettings {
  model: string;
  out: string;
  thresholds: number[];
  samples: number;
  steps: number;
  nCalib: number;
  calibrationSeed: number;
  seed: number;
  cfgScale: number;
}

/** Loads a cached plan when it was made with the same model and settings. */
async function cachedPlan(
  model: DiTModel,
  path: string,
  settings: DemoSettings,
  threshold: number,
) {
  try {
    const sampler = await CompressedSampler.fromPlan(ditTarget(model), await loadPlan(path));
    const f = sampler.planFile;
    const same = f.threshold === threshold && f.steps === settings.steps &&
      f.nCalib === settings.nCalib &&
      f.seed === settings.calibrationSeed && f.cfgScale === settings.cfgScale &&
      f.sampler === "ddim" &&
      f.model.configHash === configHash(model.config);
    return same ? sampler : null;
  } catch {
    return null;
  }
}

/**
 * Runs `run` once untimed, then times a second run: kernels bake the batch size into their
 * WGSL, so the first run at a new batch or method mix pays for shader compilation.
 */
async function timedSample(
  run: (onStep: (s: number) => void) => Promise<LoopResult>,
  label: string,
  steps: number,
) {
  const warm = new ProgressBar(`${label} (warm-up)`, steps);
  await run((s) => warm.update(s + 1));
  warm.done();
  const bar = new ProgressBar(label, steps);
  const started = performance.now();
  const result = await run((s) => bar.update(s + 1));
  bar.done();
  return { result, seconds: (performance.now() - started) / 1000 };
}

export async function runDemo(settings: DemoSettings): Promise<void> {
  // The report folder must take files before minutes of calibration and sampling.
  await checkOutputFolder(join(settings.out, "plans"));
  const gpu = await getGpu();
  const model = await DiTModel.load(gpu, localFolder(settings.model));
  const info = await readLabelInfo(settings.model);
  const classes = model.config.numClasses;
  const labels = Array.from({ length: settings.samples }, (_, i) => i % classes);
  console.log(
    `model ${settings.model} on ${gpu.adapterDescription}; ${settings.samples} samples, ` +
      `DDIM ${settings.steps} steps, CFG ${settings.cfgScale}`,
  );

  const full = await timedSample(
    (onStep) =>
      sampleDiT(model, {
        labels,
        steps: settings.steps,
        cfgScale: settings.cfgScale,
        seed: settings.seed,
        onStep,
      }),
    "full attention",
    settings.steps,
  );
  const crop = info.cropBorder;
  const rows: DemoRow[] = [{
    name: "full",
    threshold: null,
    images: splitImages(full.result.samples, full.result.shape, crop),
    seconds: full.seconds,
    attentionMacsFraction: 1,
    modelMacsFraction: 1,
    histogram: null,
    calibrationSeconds: null,
    calibrationBlocks: null,
  }];
  for (const threshold of settings.thresholds) {
    const planPath = join(settings.out, "plans", `plan-${threshold}.json`);
    let sampler = await cachedPlan(model, planPath, settings, threshold);
    let calibrationSeconds: number | null = null;
    let calibrationBlocks: { blocks: number; naive: number } | null = null;
    if (sampler) {
      console.log(`δ=${threshold}: using cached ${planPath}`);
      calibrationSeconds = sampler.planFile.calibrationSeconds;
    } else {
      const bar = new ProgressBar(`calibrating δ=${threshold}`, settings.steps);
      sampler = await compress(
        model,
        { count: settings.nCalib, seed: settings.calibrationSeed },
        {
          threshold,
          steps: settings.steps,
          cfgScale: settings.cfgScale,
          onProgress: (p) => bar.update(p.step + 1),
        },
      );
      bar.done();
      await savePlan(planPath, sampler.planFile);
      calibrationSeconds = sampler.calibration!.seconds;
      calibrationBlocks = {
        blocks: sampler.calibration!.counters.blocks,
        naive: sampler.calibration!.counters.naiveBlocks,
      };
      console.log(
        `δ=${threshold}: calibrated in ${formatSeconds(calibrationSeconds)}, saved ${planPath}`,
      );
    }
    const s = sampler;
    const run = await timedSample(
      (onStep) => s.sample({ labels, seed: settings.seed, onStep }),
      `δ=${threshold}`,
      settings.steps,
    );
    const cost = s.cost();
    rows.push({
      name: `δ=${threshold}`,
      threshold,
      images: splitImages(run.result.samples, run.result.shape, crop),
      seconds: run.seconds,
      attentionMacsFraction: cost.attentionMacsFraction,
      modelMacsFraction: cost.modelMacs / cost.fullModelMacs,
      histogram: s.histogram(),
      calibrationSeconds,
      calibrationBlocks,
    });
  }
  const size = {
    channels: model.config.inChannels,
    height: model.config.sampleSize - 2 * crop,
    width: model.config.sampleSize - 2 * crop,
  };
  for (const row of rows) {
    const file = row.threshold === null ? "full.png" : `plan-${row.threshold}.png`;
    await writeImageGrid(join(settings.out, file), row.images, size, classes);
  }
  // Side by side: one row per setting, the first `classes` samples (one per class).
  const firstOfEach = rows.flatMap((r) => r.images.slice(0, classes));
  await writeImageGrid(join(settings.out, "comparison.png"), firstOfEach, size, classes);
  const evaluated = await evaluateRows(rows, size);
  await writeDemoReport(settings, evaluated, info.names, gpu.adapterDescription);
  model.release();
}

export async function demoCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    out: { type: "string", default: "out/demo" },
    thresholds: { type: "string", default: "0.025,0.05,0.1,0.15" },
    samples: { type: "string" },
    steps: { type: "string" },
    "n-calib": { type: "string" },
    seed: { type: "string" },
    model: { type: "string", default: DEFAULT_MODEL },
    help: { type: "boolean", default: false },
  }, HELP);
  if (!values) return;
  const thresholds = values.thresholds!.split(",").map((t) => numberOption(t, "thresholds", NaN));
  if (thresholds.some((t) => !(t > 0))) {
    throw new OptionError(`--thresholds must be positive numbers`);
  }
  const started = performance.now();
  await runDemo({
    model: values.model!,
    out: values.out!,
    thresholds,
    samples: positiveIntegerOption(values.samples, "samples") ?? 20,
    steps: positiveIntegerOption(values.steps, "steps") ?? 20,
    nCalib: positiveIntegerOption(values["n-calib"], "n-calib") ?? 4,
    calibrationSeed: 0,
    seed: seedOption(values.seed, "seed", 1000),
    cfgScale: 4,
  });
  console.log(
    `demo finished in ${
      formatSeconds((performance.now() - started) / 1000)
    }; see ${values.out}/report.md`,
  );
}
