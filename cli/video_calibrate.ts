/**
 * `video-calibrate`: greedy DiTFastAttn calibration of an STDiT2 model's spatial attention for one
 * video size, with captions (text encoded by T5 first, or embedding files) as calibration data,
 * written as a plan file.
 */

import { parseArgs } from "node:util";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { stdit2Target } from "../calibrate/targets/mod.ts";
import { latentVideo, STDIT2_VAE_SCALE } from "../models/stdit2/sample.ts";
import { OptionError } from "../src/errors.ts";
import { SAMPLER_NAMES } from "../src/sampling/scheduler.ts";
import { calibrateAndSave } from "./calibrate_and_save.ts";
import { vaeScaleFactor, VIDEO_SIZE_OPTIONS, videoSizeOptions } from "./video.ts";
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
import { MAX_SEED } from "../src/sampling/prng.ts";
import { MAX_CFG_SCALE } from "../src/sampling/sample_loop.ts";
import {
  captionEmbeddings,
  VIDEO_TEXT_HELP,
  VIDEO_TEXT_OPTIONS,
  videoCaptions,
} from "./video_text.ts";
import { checkOutputPath, getGpu, localFolder } from "../deno.ts";

const HELP = `deno task video-calibrate [options]
  --model DIR       Open-Sora STDiT2 folder (required)
${VIDEO_TEXT_HELP}
                    (calibration captions, one sample each; DiTFastAttn uses 4)
  --threshold D     δ, the error budget of the greedy search (required; the paper's Open-Sora runs: 0.01–0.06)
  --frames N, --fps N, --height PX, --width PX   the video size the plan is for (defaults 16, 24, 240, 426)
  --vae DIR         VAE folder whose scale factor sets the latent size (default factor ${STDIT2_VAE_SCALE})
  --steps N         sampling steps the plan is for (default 100)
  --sampler NAME    ${SAMPLER_NAMES.join(" | ")} (default ddpm)
  --cfg S           guidance scale 0 … ${MAX_CFG_SCALE} (default 7)
  --window W        band half-width in tokens of one frame (default S/8)
  --seed N          seed of the calibration noise, an integer 0 … ${MAX_SEED} (default 0)
  --dtype f32|f16   weight storage on the GPU (default f32)
  --out FILE        plan file to write (default out/video-plan.json)`;

export async function videoCalibrateCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...CALIBRATION_OPTIONS,
      model: { type: "string" },
      ...VIDEO_TEXT_OPTIONS,
      ...VIDEO_SIZE_OPTIONS,
      vae: { type: "string" },
      sampler: { type: "string", default: "ddpm" },
      out: { type: "string", default: "out/video-plan.json" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new OptionError("--model is required");
  const threshold = thresholdOption(values.threshold);
  const sampler = samplerOption(values.sampler);
  const dtype = dtypeOption(values.dtype);
  const captions = await videoCaptions(values, dtype);
  const size = { ...videoSizeOptions(values), vaeScaleFactor: await vaeScaleFactor(values.vae) };
  latentVideo(size);
  const steps = positiveIntegerOption(values.steps, "steps") ?? 100;
  const seed = seedOption(values.seed);
  const cfgScale = cfgOption(values.cfg) ?? 7;
  await checkOutputPath(values.out!);
  const window = values.window === undefined ? undefined : numberOption(values.window, "window", 0);

  const gpu = await getGpu();
  // Text captions are encoded (and T5 released) before the transformer is loaded.
  const encoded = await captionEmbeddings(gpu, captions, values.model);
  const model = await STDiT2Model.load(gpu, localFolder(values.model), { dtype });
  try {
    const prompts = encoded ?? await captions.readEmbeddings(model.config.captionChannels);
    const compressed = await calibrateAndSave(
      stdit2Target(model, size),
      { prompts, seed },
      { threshold, steps, sampler, cfgScale, window },
      values.out!,
    );
    const cost = compressed.cost();
    console.log(`wrote ${values.out}`);
    console.log(
      `attention MACs ${(100 * cost.attentionMacsFraction).toFixed(1)}% of full, model MACs ` +
        `${(100 * cost.modelMacs / cost.fullModelMacs).toFixed(1)}%; methods ${
          JSON.stringify(compressed.histogram())
        }; ${compressed.calibration!.seconds.toFixed(1)} s`,
    );
  } finally {
    model.release();
  }
}
