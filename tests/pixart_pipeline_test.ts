/**
 * PixArt text-to-image on the tiny random goldens (transformer + VAE): shapes, seeded
 * determinism, any aspect ratio, masked padding, prompt files and the CLI. Random weights make
 * meaningless pictures, so only structure and reproducibility are checked.
 */

import { deepEqual, equal, notDeepEqual } from "node:assert/strict";
import { join } from "node:path";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { samplePixArt } from "../models/pixart/sample.ts";
import { VaeDecoder } from "../models/vae/model.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { goldenPath } from "./golden_files.ts";
import { assertRelativeError } from "./helpers.ts";
import {
  calibrateTinyPixArt,
  loadTinyPixArt,
  randomPrompt,
  TINY_PIXART,
  writePromptFile,
} from "./pixart_fixtures.ts";
import { localFolder, readPromptEmbeddingFile } from "../deno.ts";

const VAE = "vae-tiny-random";
const PROMPTS = [randomPrompt(9, 6, 11), randomPrompt(9, 9, 12)];
const NEGATIVE = randomPrompt(5, 1, 13);

Deno.test("PixArt pipeline: non-square images of the right size, reproducible from the seed", async () => {
  const model = await loadTinyPixArt();
  const vae = await VaeDecoder.load(model.gpu, localFolder(goldenPath(VAE)));
  const pipeline = PixArtPipeline.fromModels({ transformer: model, vae });
  // The tiny VAE upsamples 4×: 48×64 px is a 12×16 latent of 6×8 patches.
  const options = { prompts: PROMPTS, negative: NEGATIVE, height: 48, width: 64, steps: 3 };
  const first = await pipeline.generate({ ...options, seed: 5 });
  equal(first.images.length, 2);
  deepEqual([first.height, first.width], [48, 64]);
  deepEqual(first.latents.shape, [2, 4, 12, 16]);
  for (const image of first.images) {
    equal(image.length, 3 * 48 * 64);
    if (!image.every((v) => v >= 0 && v <= 1)) throw new Error("pixel outside [0, 1]");
  }
  const again = await pipeline.generate({ ...options, seed: 5 });
  deepEqual(again.images, first.images);
  const other = await pipeline.generate({ ...options, seed: 6 });
  notDeepEqual(other.images[0], first.images[0]);
  pipeline.release();
});

Deno.test("PixArt sampling: padding a prompt with masked tokens does not change the result", async () => {
  const model = await loadTinyPixArt();
  const common = { negative: NEGATIVE, height: 32, width: 24, vaeScaleFactor: 2, steps: 2 };
  const short = randomPrompt(4, 4, 21);
  const padded = { ...randomPrompt(10, 4, 21), source: "padded" };
  padded.embeds.set(short.embeds);
  const a = await samplePixArt(model, { ...common, prompts: [short] });
  const b = await samplePixArt(model, { ...common, prompts: [padded] });
  // Masked keys get the score bias −10000: their weight exp(−10000) is exactly 0 in f32.
  assertRelativeError(b.samples, a.samples, 1e-6, "padded vs unpadded prompt");
  model.release();
});

Deno.test("PixArt sampling with size conditioning and without guidance", async () => {
  const model = await loadTinyPixArt("pixart-tiny-random-sizecond");
  const guided = await samplePixArt(model, {
    prompts: [PROMPTS[0]],
    negative: NEGATIVE,
    height: 128,
    width: 96,
    steps: 2,
  });
  deepEqual(guided.shape, [1, 4, 16, 12]);
  // cfg ≤ 1 runs the conditional batch alone and needs no negative prompt.
  const plain = await samplePixArt(model, { prompts: [PROMPTS[0]], cfgScale: 1, steps: 2 });
  deepEqual(plain.shape, [1, 4, 16, 16]);
  if (!plain.samples.every(Number.isFinite)) throw new Error("non-finite latents");
  model.release();
});

Deno.test("pixart CLI writes a PNG grid from prompt files", async () => {
  const dir = await Deno.makeTempDir();
  const prompt = await writePromptFile(dir, "prompt.safetensors", PROMPTS[0]);
  const second = await writePromptFile(dir, "second.safetensors", PROMPTS[1]);
  const negative = await writePromptFile(dir, "negative.safetensors", NEGATIVE);
  const read = await readPromptEmbeddingFile(prompt, 40);
  deepEqual([read.length, read.channels], [9, 40]);
  deepEqual(read.mask, PROMPTS[0].mask);
  const out = join(dir, "grid.png");
  await pixartCommand([
    `--model=${goldenPath(TINY_PIXART)}`,
    `--vae=${goldenPath(VAE)}`,
    `--prompt=${prompt},${second}`,
    `--negative=${negative}`,
    "--height=32",
    "--width=48",
    "--steps=2",
    "--cols=2",
    `--out=${out}`,
  ]);
  const png = await Deno.readFile(out);
  const view = new DataView(png.buffer);
  // IHDR: two 48-wide tiles with 2 px padding around and between → 2 + 48 + 2 + 48 + 2.
  deepEqual([view.getUint32(16), view.getUint32(20)], [102, 36]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pixart-calibrate writes a plan that 'pixart --plan' samples with at its size", async () => {
  const dir = await Deno.makeTempDir();
  const prompt = await writePromptFile(dir, "prompt.safetensors", PROMPTS[0]);
  const negative = await writePromptFile(dir, "negative.safetensors", NEGATIVE);
  const plan = await calibrateTinyPixArt(dir, [
    `--model=${goldenPath(TINY_PIXART)}`,
    `--prompt=${prompt}`,
    `--negative=${negative}`,
    "--vae-scale=4",
  ], 3);
  const common = [
    `--model=${goldenPath(TINY_PIXART)}`,
    `--vae=${goldenPath(VAE)}`,
    `--prompt=${prompt}`,
    `--negative=${negative}`,
    `--plan=${plan}`,
    `--out=${join(dir, "out.png")}`,
  ];
  await pixartCommand([...common, "--height=32", "--width=48"]);
  await Deno.stat(join(dir, "out.png"));
  // The plan was made for 32×48 px; the model's default size is another token grid.
  try {
    await pixartCommand(common);
    throw new Error("a plan for another size was accepted");
  } catch (e) {
    if (!/calibrated at 24 tokens|another model/.test((e as Error).message)) throw e;
  }
  await Deno.remove(dir, { recursive: true });
});
