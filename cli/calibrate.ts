/** `calibrate`: greedy DiTFastAttn calibration of a DiT, written as a plan file. */

import { parseArgs } from "node:util";
import { ditTarget } from "../calibrate/targets/mod.ts";
import { DiTModel } from "../models/dit/model.ts";
import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { DEFAULT_MODEL } from "./generate.ts";
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
import { checkOutputPath, getGpu, localFolder, writeBytes } from "../deno.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";

const HELP = `deno task calibrate [options]
  --model DIR       diffusers DiT folder (default: the embedded tiny-fmnist model)
  --threshold D     δ, the error budget of the greedy search (required, > 0; paper: 0.025–0.15)
  --n-calib N       calibration samples, labels drawn from --seed (default 8)
  --steps N         sampling steps the plan is for (default 20)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default ddim)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE} (default 4)
  --window W        band half-width in tokens (default N/8)
  --seed N          seed of the calibration labels and noise, an integer 0 … ${MAX_SEED}
                    (default 0)
  --dtype f32|f16   weight storage on the GPU (default f32; calibrate with the dtype you sample in)
  --out FILE        plan file to write (default out/plan.json)
  --xdit FILE       also write the plan in xDiT's JSON form
  --no-reuse        run every trial from the first block (measures what reuse saves)`;

export async function calibrateCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...CALIBRATION_OPTIONS,
      model: { type: "string", default: DEFAULT_MODEL },
      "n-calib": { type: "string" },
      sampler: { type: "string", default: "ddim" },
      out: { type: "string", default: "out/plan.json" },
      xdit: { type: "string" },
      "no-reuse": { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const threshold = thresholdOption(values.threshold);
  const nCalib = numberOption(values["n-calib"], "n-calib", 8);
  const steps = positiveIntegerOption(values.steps, "steps") ?? 20;
  const seed = seedOption(values.seed);
  const cfgScale = cfgOption(values.cfg) ?? 4;
  const sampler = samplerOption(values.sampler);
  const window = values.window === undefined ? undefined : numberOption(values.window, "window", 0);
  // Option errors come before loading the model or touching the GPU.
  if (!Number.isInteger(nCalib) || nCalib < 1) {
    throw new OptionError(`--n-calib must be an integer ≥ 1, got ${nCalib}`);
  }
  const dtype = dtypeOption(values.dtype);
  await checkOutputPath(values.out!);
  if (values.xdit !== undefined) await checkOutputPath(values.xdit);
  const gpu = await getGpu();
  const model = await DiTModel.load(gpu, localFolder(values.model!), { dtype });
  const sampler_ = await calibrateAndSave(
    ditTarget(model),
    { count: nCalib, seed },
    {
      threshold,
      steps,
      sampler,
      cfgScale,
      window,
      reuseHiddenStates: !values["no-reuse"],
    },
    values.out!,
  );
  if (values.xdit) {
    await writeBytes(values.xdit, JSON.stringify(sampler_.toXDiT(), null, 1) + "\n");
  }
  const cost = sampler_.cost();
  const log = sampler_.calibration!;
  console.log(`wrote ${values.out}`);
  console.log(
    `attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% of full; methods ${
      JSON.stringify(sampler_.histogram())
    }`,
  );
  console.log(
    `calibration ${log.seconds.toFixed(1)}s; ${log.counters.blocks} block evaluations ` +
      `(a search without reuse: ${log.counters.naiveBlocks}), ${log.counters.losses} losses`,
  );
  model.release();
}
