/** What the calibrate commands share: the greedy search with a progress bar, then the plan file. */

import { compress, type CompressOptions } from "../calibrate/compress.ts";
import type { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import type { CompressionTarget, SeededCalibration } from "../calibrate/compression_target.ts";
import { ProgressBar } from "./progress.ts";
import { savePlan } from "../deno.ts";

/** Calibrates `target` on `calibData`, showing each searched step, and writes the plan to `out`. */
export async function calibrateAndSave<Calib extends SeededCalibration, SampleOptions>(
  target: CompressionTarget<Calib, SampleOptions>,
  calibData: Calib,
  options: Omit<CompressOptions, "onProgress"> & { steps: number },
  out: string,
): Promise<CompressedSampler<SampleOptions>> {
  const progress = new ProgressBar("calibrating", options.steps);
  const compressed = await compress(target, calibData, {
    ...options,
    onProgress: (p) => progress.update(p.step + 1),
  });
  progress.done();
  await savePlan(out, compressed.planFile);
  return compressed;
}
