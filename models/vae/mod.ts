/**
 * The AutoencoderKL decoder (diffusers layout) that turns latents into RGB images: config,
 * weights, decoder.
 * @module
 */

export { parseVaeConfig, upscaleFactor, type VaeConfig } from "./config.ts";
export { expectedVaeShapes } from "./weights.ts";
export { VaeDecoder, type VaeLoadOptions } from "./model.ts";
