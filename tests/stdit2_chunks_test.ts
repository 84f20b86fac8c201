/**
 * Under a small storage-binding limit STDiT2 runs its spatial attention (with every DiTFastAttn
 * method), temporal attention and MLPs over row chunks, and samples what it samples unchunked.
 */

import { STDiT2Model } from "../models/stdit2/model.ts";
import { sampleSTDiT2 } from "../models/stdit2/sample.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import type { AttentionPlan } from "../src/compression/plan.ts";
import { Gpu } from "../src/gpu/context.ts";
import { goldenPath } from "./golden_files.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";
import { TINY_STDIT2, writeTinyPrompts } from "./stdit2_fixtures.ts";
import { localFolder, readPromptEmbeddingFile } from "../deno.ts";

/** 4 frames of 128 × 128 px → latent 16 × 16 → 64 tokens per frame. */
const VIDEO = { frames: 4, height: 128, width: 128, fps: 8 };
/**
 * Above every weight of the tiny model (t_block.1 is 221 KB) and the hidden states [2, 256, 96]
 * (196 KB), below the packed q/k/v of either attention (590 KB) and the MLP's hidden layer.
 */
const BINDING_LIMIT = 300 * 1024;

Deno.test("STDiT2 sampling with a plan is the same over row chunks under a small binding limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stdit2-chunks-" });
  const [path] = await writeTinyPrompts(dir, 1);
  const prompts = [await readPromptEmbeddingFile(path, 32)];
  await Deno.remove(dir, { recursive: true });
  const steps = 5;
  const column: AttentionMethod[][] = [
    ["FULL_ATTN", "RESIDUAL_WINDOW_ATTN", "FULL_ATTN_CFG_SHARE", "OUTPUT_SHARE", "FULL_ATTN"],
    [
      "FULL_ATTN",
      "FULL_ATTN",
      "RESIDUAL_WINDOW_ATTN_CFG_SHARE",
      "RESIDUAL_WINDOW_ATTN",
      "FULL_ATTN",
    ],
  ];
  const plan: AttentionPlan = { window: 8, methods: column };
  const options = { prompts, ...VIDEO, steps, seed: 4, plan };

  const model = await STDiT2Model.load(await testGpu(), localFolder(goldenPath(TINY_STDIT2)));
  const whole = await sampleSTDiT2(model, options);
  model.release();

  const small = await Gpu.create({ maxStorageBindingBytes: BINDING_LIMIT });
  const chunked = await STDiT2Model.load(small, localFolder(goldenPath(TINY_STDIT2)));
  const qkvBytes = 2 * VIDEO.frames * 64 * 3 * 96 * 4;
  if (!(qkvBytes > small.limits.maxStorageBufferBindingSize)) throw new Error("nothing to chunk");
  const parts = await sampleSTDiT2(chunked, options);
  assertRelativeError(parts.samples, whole.samples, 1e-5, "chunked vs whole");
  chunked.release();
  small.destroy();
});
