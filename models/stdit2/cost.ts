/** Multiply-accumulates of an STDiT2 forward pass outside the spatial self-attention, per sample. */

import type { CostShape } from "../../src/compression/plan.ts";
import type { PlanFit } from "../../src/compression/plan_file.ts";
import { type STDiT2Config, stdit2ConfigHash } from "./config.ts";
import type { STDiT2Model } from "./model.ts";
import type { LatentVideo } from "./sample.ts";
import { SINUSOID_CHANNELS } from "./weights.ts";

export interface VideoTokens {
  frames: number;
  tokensPerFrame: number;
  /** Caption tokens L. */
  captionTokens: number;
}

/**
 * Cost shape of STDiT2 on a T × S token grid: the plan's spatial attention runs as T instances
 * of S tokens; everything else (temporal attention with its projections, cross-attention, MLPs,
 * embedders, final layer) is fixed cost.
 */
export function stdit2CostShape(config: STDiT2Config, video: VideoTokens): CostShape {
  const c = config.hiddenSize;
  const { frames: t, tokensPerFrame: s, captionTokens: l } = video;
  const n = t * s;
  const temporal = 4 * n * c * c + 2 * s * t * t * c; // qkv + proj, then QKᵀ and AV per position
  const cross = 2 * n * c * c + 2 * l * c * c + 2 * n * l * c; // q, proj, kv; QKᵀ and AV
  const mlp = 2 * n * c * config.mlpHidden;
  const perLayer = temporal + cross + mlp;
  const [pt, ph, pw] = config.patchSize;
  const embedders = 3 * (SINUSOID_CHANNELS * c + c * c) + // timestep, frames, fps
    3 * (SINUSOID_CHANNELS * (c / 3) + (c / 3) ** 2) + // height, width, aspect ratio
    9 * c * c; // t_block and t_block_temp
  const captions = l * config.captionChannels * c + l * c * c;
  const patchEmbed = n * c * config.inChannels * pt * ph * pw;
  const finalLayer = n * c * pt * ph * pw * config.outChannels;
  return {
    tokens: s,
    attentionsPerSample: t,
    width: c,
    otherMacsPerStep: config.depth * perLayer + embedders + captions + patchEmbed + finalLayer,
  };
}

/**
 * What an STDiT2 plan is bound to: one video size. The plan's windows and frame count depend on
 * the token grid, not only on S, so the config hash covers the grid; `tokens` is S per frame.
 */
export function stdit2PlanFit(model: STDiT2Model, video: LatentVideo): PlanFit {
  const grid = model.grid(video.frames, video.latentHeight, video.latentWidth);
  return {
    family: model.family,
    configHash: stdit2ConfigHash(model.config, {
      gridFrames: grid.frames,
      gridRows: grid.rows,
      gridColumns: grid.columns,
    }),
    layers: model.layers,
    tokens: grid.tokensPerFrame,
    costShape: stdit2CostShape(model.config, {
      frames: grid.frames,
      tokensPerFrame: grid.tokensPerFrame,
      captionTokens: model.config.modelMaxLength,
    }),
  };
}
