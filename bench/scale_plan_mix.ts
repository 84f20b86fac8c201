/**
 * Inputs shared by the scale benchmarks: fixed method mixes standing in for a calibrated plan
 * (the DiT-XL/2 step of gpu_check.ts and scale_dit_xl.ts; the caption-conditioned families,
 * PixArt and STDiT2), and random captions.
 */

import type { AttentionMethod } from "../src/compression/methods.ts";
import type { AttentionPlan } from "../src/compression/plan.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";

/**
 * Step 0 full everywhere; later steps cycle over 7 layers: 2 full, 2 ASC (CFG-shared), 2 WA-RS
 * (window + residual) and one output share, about half the attention MACs of a full step, with
 * w = N/8.
 */
export function halfAttentionPlan(layers: number, steps: number, tokens: number): AttentionPlan {
  const cycle: AttentionMethod[] = [
    "FULL_ATTN",
    "FULL_ATTN_CFG_SHARE",
    "RESIDUAL_WINDOW_ATTN",
    "FULL_ATTN",
    "FULL_ATTN_CFG_SHARE",
    "RESIDUAL_WINDOW_ATTN",
    "OUTPUT_SHARE",
  ];
  return {
    window: Math.floor(tokens / 8),
    methods: Array.from(
      { length: layers },
      (_, l) =>
        Array.from({ length: steps }, (_, t) => (t === 0 ? "FULL_ATTN" : cycle[l % cycle.length])),
    ),
  };
}

/**
 * A per-layer mix of the four methods near DiTFastAttn's stronger plans: per 7 layers 1 full,
 * 2 WA-RS, 2 ASC, 1 WA-RS+ASC and 1 output share, repeated over the depth. With w = N/8 a window
 * step costs (2w+1)/N ≈ 1/4 of full, sharing halves it and output sharing is free, so the mix
 * costs 2.625/7 = 37.5% of the self-attention MACs.
 */
export function mixedMethodColumn(layers: number): AttentionMethod[] {
  const pattern: AttentionMethod[] = [
    "FULL_ATTN",
    "RESIDUAL_WINDOW_ATTN",
    "FULL_ATTN_CFG_SHARE",
    "RESIDUAL_WINDOW_ATTN",
    "OUTPUT_SHARE",
    "FULL_ATTN_CFG_SHARE",
    "RESIDUAL_WINDOW_ATTN_CFG_SHARE",
  ];
  return Array.from({ length: layers }, (_, l) => pattern[l % pattern.length]);
}

/** A caption of `length` tokens, the first `kept` of them real (T5 pads to the max length). */
export function randomPrompt(
  length: number,
  kept: number,
  channels: number,
  seed: number,
): PromptEmbedding {
  const embeds = gaussianNoise(seed, 0, length * channels);
  embeds.fill(0, kept * channels);
  const mask = new Float32Array(length).fill(1, 0, kept);
  return { source: `random caption ${seed}`, length, channels, embeds, mask };
}
