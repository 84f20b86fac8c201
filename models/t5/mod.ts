/** The T5 v1.1 encoder family (transformers `T5EncoderModel`): its public parts. */

export { parseT5Config, type T5Config, t5InnerDim } from "./config.ts";
export {
  type T5EncodeOptions,
  T5Encoder,
  type T5EncoderLoadOptions,
  type T5EncoderOutput,
} from "./encoder.ts";
export {
  gatherPositionBias,
  relativePositionBucket,
  relativePositionBuckets,
  uploadPositionBias,
} from "./position_bias.ts";
export {
  checkT5Weights,
  expectedT5Shapes,
  loadT5Weights,
  releaseT5Weights,
  T5_EMBEDDING_NAMES,
  T5_POSITION_BIAS_NAME,
  type T5BlockWeights,
  type T5WeightDtype,
  type T5Weights,
} from "./weights.ts";
