/**
 * The `compress()` targets, one per model family, each made from a model from outside: the
 * models never import calibration (as diffusers' hooks are applied to a model).
 */

export { type CalibrationData, type CompressedSampleOptions, ditTarget } from "./dit_target.ts";
export {
  type PixArtCalibration,
  type PixArtCompressedSampleOptions,
  pixartTarget,
} from "./pixart_target.ts";
export {
  type STDiT2CalibrationData,
  type STDiT2CompressedSampleOptions,
  stdit2Target,
} from "./stdit2_target.ts";
