/** STDiT2-XL/2's shape with random weights, for benchmarks at the real model size. */

import { RandomTensorSource } from "./random_source.ts";
import type { STDiT2Config } from "../models/stdit2/config.ts";
import { expectedSTDiT2Shapes } from "../models/stdit2/weights.ts";

/** STDiT2-XL/2 as hpcai-tech/OpenSora-STDiT-v2-stage3's config.json gives it. */
export const STDIT2_XL_2: Readonly<STDiT2Config> = {
  depth: 28,
  hiddenSize: 1152,
  numHeads: 16,
  patchSize: [1, 2, 2],
  inChannels: 4,
  outChannels: 8,
  captionChannels: 4096,
  modelMaxLength: 200,
  inputSqSize: 512,
  mlpHidden: 4608,
  qkNorm: true,
};

/** Every tensor of `config` with N(0, 0.02²) values, drawn when read (768M of them for XL/2). */
export function randomSTDiT2Source(config: STDiT2Config, seed = 0): RandomTensorSource {
  return new RandomTensorSource(`random STDiT2 (seed ${seed})`, expectedSTDiT2Shapes(config), seed);
}
