/** `calibrate`: greedy DiTFastAttn calibration of a DiT, written as a plan file. */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { commandValues } from "./args.ts";
import { ditTarget } from "../calibrate/targets/mod.ts";
import { DiTModel } from "../models/dit/model.ts";
import { OptionError } from "../src/errors.ts";
import { DEFAULT_MODEL } from "./generate.ts";
import { calibrateAndSave } from "./calibrate_and_save.ts";
import { CALIBRATION_OPTIONS, numberOption } from "./options.ts";
import { calibrationHelp, calibrationSettings } from "./settings.ts";
import { checkOutputPath, getGpu, localFolder, writeBytes } from "../deno.ts";
import { MAX_SEED } from "../src/sampling/prng.ts";

/** What the search is for unless told otherwise, and the help's words for it. */
const DIT_CALIBRATION = {
  ...SAMPLING_DEFAULTS.dit,
  window: "tokens (default N/8)",
  seed: `seed of the calibration labels and noise, an integer 0 … ${MAX_SEED}
                    (default 0)`,
  dtype: "f32; calibrate with the dtype you sample in",
  out: "out/plan.json",
} as const;

const HELP = `deno task calibrate [options]
  --model DIR       diffusers DiT folder (default: the embedded tiny-fmnist model)
  --threshold D     δ, the error budget of the greedy search (required, > 0; paper: 0.025–0.15)
  --n-calib N       calibration samples, labels drawn from --seed (default 8)
${calibrationHelp(DIT_CALIBRATION)}
  --xdit FILE       also write the plan in xDiT's JSON form
  --no-reuse        run every trial from the first block (measures what reuse saves)`;

export async function calibrateCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    ...CALIBRATION_OPTIONS,
    model: { type: "string", default: DEFAULT_MODEL },
    "n-calib": { type: "string" },
    out: { type: "string", default: DIT_CALIBRATION.out },
    xdit: { type: "string" },
    "no-reuse": { type: "boolean", default: false },
  }, HELP);
  if (!values) return;
  // Option errors come before loading the model or touching the GPU.
  const { dtype, seed, search } = calibrationSettings(values, DIT_CALIBRATION);
  const nCalib = numberOption(values["n-calib"], "n-calib", 8);
  if (!Number.isInteger(nCalib) || nCalib < 1) {
    throw new OptionError(`--n-calib must be an integer ≥ 1, got ${nCalib}`);
  }
  await checkOutputPath(values.out!);
  if (values.xdit !== undefined) await checkOutputPath(values.xdit);
  const gpu = await getGpu();
  const model = await DiTModel.load(gpu, localFolder(values.model!), { dtype });
  const sampler_ = await calibrateAndSave(
    ditTarget(model),
    { count: nCalib, seed },
    { ...search, reuseHiddenStates: !values["no-reuse"] },
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
