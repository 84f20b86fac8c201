/** Prompt-embedding files for the tiny golden STDiT2 (caption width 32, 6 tokens). */

import { join } from "node:path";
import { EMBEDS_TENSOR, MASK_TENSOR } from "../src/io/prompt_embeddings.ts";
import { withGolden } from "./golden_files.ts";
import { writeSafetensors } from "../deno.ts";

export const TINY_STDIT2 = "stdit-tiny-random";

/**
 * Writes `count` prompt files into `dir`: the golden's first caption (4 of 6 tokens kept) and
 * variations of it with other lengths and masks; returns their paths.
 */
export async function writeTinyPrompts(dir: string, count: number): Promise<string[]> {
  const first = await withGolden(
    `${TINY_STDIT2}/forward.safetensors`,
    async (file) => (await file.readFloat32("y")).slice(0, 6 * 32),
  );
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 6 - (i % 3);
    const embeds = first.map((v, k) => v * Math.cos(0.7 * i * k + i)).slice(0, length * 32);
    const mask = Float32Array.from({ length }, (_, k) => (k < length - i % 2 ? 1 : 0));
    const path = join(dir, `prompt-${i}.safetensors`);
    await writeSafetensors(path, {
      [EMBEDS_TENSOR]: { dtype: "F32", shape: [length, 32], data: embeds },
      [MASK_TENSOR]: { dtype: "F32", shape: [length], data: mask },
    });
    paths.push(path);
  }
  return paths;
}
