/**
 * PixArt weights drawn at random on demand, for benchmarks at real model shapes. Values are
 * made when a tensor is read (PixArt-Σ's 600M parameters would be 2.4 GB to hold as f32).
 */

import { RandomTensorSource, XL_2_BACKBONE } from "./random_source.ts";
import type { PixArtConfig } from "../models/pixart/config.ts";
import { expectedPixArtShapes } from "../models/pixart/weights.ts";

/** PixArt-Σ at 1024 px: 28 layers, 16 heads × 72, T5-XXL captions, learned sigma, no size conditioning. */
export const PIXART_SIGMA_1024: Readonly<PixArtConfig> = {
  ...XL_2_BACKBONE,
  sampleSize: 128,
  captionChannels: 4096,
  normEps: 1e-6,
  interpolationScale: 2,
  useAdditionalConditions: false,
};

/** Every tensor of `config` as N(0, 0.02²) values (they matter only for speed). */
export function randomPixArtSource(config: PixArtConfig, seed = 0): RandomTensorSource {
  return new RandomTensorSource(`random PixArt (seed ${seed})`, expectedPixArtShapes(config), seed);
}
