/** Multiply-accumulates of a PixArt sampling step outside self-attention, per sample. */

import type { CostShape } from "../../src/compression/plan.ts";
import type { PlanFit } from "../../src/compression/plan_file.ts";
import { configHash } from "../dit/config.ts";
import { type PixArtConfig, pixartWidth } from "./config.ts";
import type { PixArtModel } from "./model.ts";
import type { LatentGrid } from "./sample.ts";
import { PIXART_FREQUENCY_CHANNELS } from "./weights.ts";

/**
 * Cost shape of PixArt at `tokens` latent tokens with captions of `captionTokens` text tokens
 * (PixArt-α uses 120, PixArt-Σ 300). The caption projection runs once per sampling run, not per
 * step, so it is left out.
 */
export function pixartCostShape(
  config: PixArtConfig,
  tokens: number,
  captionTokens = 120,
): CostShape {
  const c = pixartWidth(config);
  const p = config.patchSize;
  const perLayer = 8 * tokens * c * c + // MLP c → 4c → c
    2 * tokens * c * c + // cross-attention query and output projections
    2 * captionTokens * c * c + // cross-attention key/value projections of the caption
    2 * tokens * captionTokens * c; // cross-attention scores and weighted values
  const sizeEmbedders = config.useAdditionalConditions
    ? 3 * (PIXART_FREQUENCY_CHANNELS * (c / 3) + (c / 3) ** 2)
    : 0;
  const conditioning = PIXART_FREQUENCY_CHANNELS * c + c * c + sizeEmbedders + 6 * c * c;
  const patchEmbed = tokens * c * config.inChannels * p * p;
  const finalLayer = tokens * c * p * p * config.outChannels;
  return {
    tokens,
    width: c,
    otherMacsPerStep: config.numLayers * perLayer + conditioning + patchEmbed + finalLayer,
  };
}

/**
 * What a PixArt plan is bound to: PixArt samples at any size and a plan's decisions hold for
 * one token grid, so the config hash covers the latent height and width (16×12 and 12×16 have
 * the same token count but different windows of neighbours).
 */
export function pixartPlanFit(
  model: Pick<PixArtModel, "family" | "config" | "layers" | "tokens">,
  grid: LatentGrid,
): PlanFit {
  const tokens = model.tokens(grid.latentHeight, grid.latentWidth);
  return {
    family: model.family,
    configHash: configHash({
      ...model.config,
      latentHeight: grid.latentHeight,
      latentWidth: grid.latentWidth,
    }),
    layers: model.layers,
    tokens,
    costShape: pixartCostShape(model.config, tokens),
  };
}
