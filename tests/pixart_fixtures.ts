/** Shared inputs of the PixArt tests: the tiny golden model and prompt-embedding files. */

import { deepEqual } from "node:assert/strict";
import { join } from "node:path";
import { pixartCalibrateCommand } from "../cli/pixart_calibrate.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import type { PromptEmbedding } from "../src/io/prompt_embeddings.ts";
import type { Gpu } from "../src/gpu/context.ts";
import { goldenPath } from "./golden_files.ts";
import { randomArray, testGpu } from "./helpers.ts";
import { loadPlan, localFolder, writeSafetensors } from "../deno.ts";

export const TINY_PIXART = "pixart-tiny-random";
/** caption_channels of the tiny models. */
export const TINY_CAPTION_CHANNELS = 40;

export async function loadTinyPixArt(folder = TINY_PIXART, gpu?: Gpu): Promise<PixArtModel> {
  return PixArtModel.load(gpu ?? await testGpu(), localFolder(goldenPath(folder)));
}

/** A prompt embedding with `kept` real tokens followed by masked padding up to `length`. */
export function randomPrompt(
  length: number,
  kept: number,
  seed: number,
  channels = TINY_CAPTION_CHANNELS,
): PromptEmbedding {
  const embeds = randomArray(length * channels, seed);
  embeds.fill(0, kept * channels);
  const mask = new Float32Array(length).fill(1, 0, kept);
  return { source: `random prompt ${seed}`, length, channels, embeds, mask };
}

/** Writes a prompt file the way a T5 export does: F32 embeddings [1, L, C], I64 mask [1, L]. */
export async function writePromptFile(
  dir: string,
  name: string,
  prompt: PromptEmbedding,
  overrides: { embedsShape?: number[]; maskShape?: number[]; mask?: BigInt64Array } = {},
): Promise<string> {
  const path = join(dir, name);
  await writeSafetensors(path, {
    prompt_embeds: {
      dtype: "F32",
      shape: overrides.embedsShape ?? [1, prompt.length, prompt.channels],
      data: prompt.embeds,
    },
    prompt_attention_mask: {
      dtype: "I64",
      shape: overrides.maskShape ?? [1, prompt.length],
      data: overrides.mask ?? BigInt64Array.from(prompt.mask, (m) => BigInt(m)),
    },
  });
  return path;
}

/**
 * Runs `pixart-calibrate` with the model and prompt options `args` at δ = 0.1 for 32×48 px
 * images, checks the plan it writes (a PixArt plan of `steps` steps over 24 tokens: 8×12 latents
 * through a 4× VAE, patch 2) and returns its path in `dir`.
 */
export async function calibrateTinyPixArt(
  dir: string,
  args: readonly string[],
  steps: number,
): Promise<string> {
  const plan = join(dir, "plan.json");
  const size = ["--threshold=0.1", "--height=32", "--width=48", `--steps=${steps}`];
  await pixartCalibrateCommand([...args, ...size, `--out=${plan}`]);
  const file = await loadPlan(plan);
  deepEqual([file.model.family, file.model.tokens, file.steps], ["pixart", 24, steps]);
  return plan;
}
