/**
 * `video-calibrate`: greedy DiTFastAttn calibration of an STDiT2 model's spatial attention for one
 * video size, with captions (text encoded by T5 first, or embedding files) as calibration data,
 * written as a plan file.
 */

import { SAMPLING_DEFAULTS } from "../models/sampling_defaults.ts";
import { commandValues } from "./args.ts";
import { STDiT2Model } from "../models/stdit2/model.ts";
import { stdit2Target } from "../calibrate/targets/mod.ts";
import { latentVideo, STDIT2_VAE_SCALE } from "../models/stdit2/sample.ts";
import { OptionError } from "../src/errors.ts";
import { calibrateAndSave } from "./calibrate_and_save.ts";
import { vaeScaleFactor, VIDEO_SIZE_OPTIONS, videoSizeOptions } from "./video.ts";
import { CALIBRATION_OPTIONS } from "./options.ts";
import { calibrationHelp, calibrationSettings } from "./settings.ts";
import {
  captionEmbeddings,
  VIDEO_TEXT_HELP,
  VIDEO_TEXT_OPTIONS,
  videoCaptions,
} from "./video_text.ts";
import { checkOutputPath, getGpu, localFolder } from "../deno.ts";

/** What the search is for unless told otherwise, and the help's words for it. */
const STDIT2_CALIBRATION = {
  ...SAMPLING_DEFAULTS.stdit2,
  window: "tokens of one frame (default S/8)",
  out: "out/video-plan.json",
} as const;

const HELP = `deno task video-calibrate [options]
  --model DIR       Open-Sora STDiT2 folder (required)
${VIDEO_TEXT_HELP}
                    (calibration captions, one sample each; DiTFastAttn uses 4)
  --threshold D     δ, the error budget of the greedy search (required; the paper's Open-Sora runs: 0.01–0.06)
  --frames N, --fps N, --height PX, --width PX   the video size the plan is for (defaults 16, 24, 240, 426)
  --vae DIR         VAE folder whose scale factor sets the latent size (default factor ${STDIT2_VAE_SCALE})
${calibrationHelp(STDIT2_CALIBRATION)}`;

export async function videoCalibrateCommand(args: string[]): Promise<void> {
  const values = commandValues(args, {
    ...CALIBRATION_OPTIONS,
    model: { type: "string" },
    ...VIDEO_TEXT_OPTIONS,
    ...VIDEO_SIZE_OPTIONS,
    vae: { type: "string" },
    out: { type: "string", default: STDIT2_CALIBRATION.out },
  }, HELP);
  if (!values) return;
  if (!values.model) throw new OptionError("--model is required");
  const { dtype, seed, search } = calibrationSettings(values, STDIT2_CALIBRATION);
  const captions = await videoCaptions(values, dtype);
  const size = { ...videoSizeOptions(values), vaeScaleFactor: await vaeScaleFactor(values.vae) };
  latentVideo(size);
  await checkOutputPath(values.out!);

  const gpu = await getGpu();
  // Text captions are encoded (and T5 released) before the transformer is loaded.
  const encoded = await captionEmbeddings(gpu, captions, values.model);
  const model = await STDiT2Model.load(gpu, localFolder(values.model), { dtype });
  try {
    const prompts = encoded ?? await captions.readEmbeddings(model.config.captionChannels);
    const compressed = await calibrateAndSave(
      stdit2Target(model, size),
      { prompts, seed },
      search,
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
