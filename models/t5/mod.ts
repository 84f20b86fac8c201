/**
 * The T5 v1.1 text encoder (transformers `T5EncoderModel`) and its SentencePiece tokenizer:
 * text → caption embeddings for the diffusion families.
 * @module
 */

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
export { type EncodedText, type PaddedBatch, T5Tokenizer } from "../../src/text/t5_tokenizer.ts";
export { loadT5Tokenizer, type T5TokenizerFiles } from "./tokenizer_folder.ts";
export {
  checkEncoderWidth,
  checkTokenizerFitsEncoder,
  type EncodedTexts,
  encodeTextsOnce,
  type T5EncodeTextsOptions,
  T5TextEncoder,
  type T5TextEncoderLoadOptions,
  type T5TextFolders,
  type TextTruncation,
  truncationNotice,
} from "./text_encoder.ts";
export { promptEmbeddingTensors } from "../../src/io/prompt_embeddings.ts";
