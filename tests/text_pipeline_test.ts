/**
 * The text path end to end on tiny models: the golden T5 tokenizer and random T5 encoder
 * (d_model 48) in front of a random PixArt (caption_channels 48) or STDiT2, driven from text
 * through the real CLI commands. The text stage is checked against the tokenizer and
 * `T5Encoder.encode` run directly on ids built by hand (truncation, padding and mask), the
 * padded encoding against the unpadded one, and images from text against images from the
 * embeddings `--save-embeddings` wrote.
 */

import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { preprocessCaption } from "../models/pixart/caption_cleaning.ts";
import { STDiT2Pipeline } from "../models/stdit2/pipeline.ts";
import { T5Encoder } from "../models/t5/encoder.ts";
import { linearCacheBytes } from "../src/ops/linear.ts";
import { T5Tokenizer } from "../src/text/t5_tokenizer.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { videoCommand } from "../cli/video.ts";
import { assertRelativeError, goldenDir, testGpu } from "./helpers.ts";
import { calibrateTinyPixArt } from "./pixart_fixtures.ts";
import {
  writeTinyPixArtPipeline,
  writeTinySTDiT2Pipeline,
} from "../testing/tiny_text_pipelines.ts";
import { localFolder, readPromptEmbeddingFile } from "../deno.ts";

const T5_DIR = join(goldenDir(), "t5-tiny-random");
const TOKENIZER = T5Tokenizer.fromSentencePiece(
  await Deno.readFile(join(goldenDir(), "t5-tokenizer", "spiece.model")),
);
const EOS = 1;
const PAD = 0;

/** A caption of more than 120 tokens (the tiny tokenizer spends ~2 tokens per word). */
const LONG = "a red double decker bus drives slowly through the deep white snow of a quiet " +
  "mountain village at dusk, its yellow headlights glowing, while children in woollen hats " +
  "throw snowballs at each other beside a frozen fountain and an old man with a brown dog " +
  "walks past a bakery window full of warm bread, cakes and candles, under a purple sky";
const PROMPTS = ["A Red Bus in the Snow, see https://example.com/bus.jpg", LONG];

let encoder: Promise<T5Encoder> | undefined;
function directEncoder(): Promise<T5Encoder> {
  encoder ??= (async () => T5Encoder.load(await testGpu(), localFolder(T5_DIR)))();
  return encoder;
}

/** T5's padding and truncation, written out: ≤ N − 1 tokens, then </s>, then pad ids. */
function handPadded(text: string, maxLength: number): { ids: Int32Array; mask: Int32Array } {
  const body = TOKENIZER.encode(text).ids.slice(0, -1); // without its </s>
  const kept = [...body.slice(0, maxLength - 1), EOS];
  const ids = new Int32Array(maxLength).fill(PAD);
  ids.set(kept);
  const mask = new Int32Array(maxLength);
  mask.fill(1, 0, kept.length);
  return { ids, mask };
}

async function encodeDirect(ids: Int32Array, mask: Int32Array | null): Promise<Float32Array> {
  const t5 = await directEncoder();
  const out = t5.encode(ids, mask, 1, ids.length).lastHiddenState;
  const values = await out.toFloat32();
  out.release();
  return values;
}

async function tinyPixArt(options = {}): Promise<string> {
  return writeTinyPixArtPipeline(await Deno.makeTempDir({ prefix: "pixart-text-" }), options);
}

Deno.test("PixArt text stage = clean_caption → T5 padding/truncation by hand → T5Encoder.encode", async () => {
  const dir = await tinyPixArt();
  const encoded = await PixArtPipeline.encodePrompts(await testGpu(), localFolder(dir), PROMPTS);
  // model_index.json names PixArtAlphaPipeline: 120 tokens.
  equal(encoded.maxLength, 120);
  const cases = [...PROMPTS.map((p) => preprocessCaption(p, { clean: true })), ""];
  const embeddings = [...encoded.prompts, encoded.negative!];
  for (const [i, text] of cases.entries()) {
    const { ids, mask } = handPadded(text, 120);
    const embedding = embeddings[i];
    deepEqual([embedding.length, embedding.channels], [120, 48]);
    deepEqual(Array.from(embedding.mask), Array.from(mask), `mask of case ${i}`);
    assertRelativeError(embedding.embeds, await encodeDirect(ids, mask), 1e-6, `case ${i}`);
  }
  // The URL is cleaned away; the long caption fills all 120 tokens and ends with </s>.
  equal(cases[0].startsWith("a red bus in the snow"), true);
  equal(cases[0].includes("example"), false);
  equal(embeddings[1].mask.every((m) => m === 1), true);
  // "" is a valid prompt: just </s>.
  deepEqual(Array.from(embeddings[2].mask.slice(0, 3)), [1, 0, 0]);
  equal(encoded.notices.length, 1);
  const notice = encoded.notices[0];
  if (!/^prompt 1 ".*": \d+ tokens, truncated to 120 .*dropped: "/.test(notice)) {
    throw new Error(`unexpected notice: ${notice}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a padded caption's tokens encode as the unpadded caption (the mask hides padding)", async () => {
  const dir = await tinyPixArt();
  const text = "a red bus in the snow";
  const encoded = await PixArtPipeline.encodePrompts(await testGpu(), localFolder(dir), [text], {
    negativePrompt: null,
    maxLength: 40,
    cleanCaption: false,
  });
  equal(encoded.negative, undefined);
  const ids = Int32Array.from(TOKENIZER.encode(text).ids);
  const unpadded = await encodeDirect(ids, null);
  const rows = encoded.prompts[0].embeds.subarray(0, ids.length * 48);
  // Relative position bias depends on distance only, and masked keys get no weight.
  assertRelativeError(rows, unpadded, 1e-5, "padded vs unpadded");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Σ pipelines take 300 tokens; a tokenizer.json-only folder gives the same embeddings", async () => {
  const sigma = await tinyPixArt({ className: "PixArtSigmaPipeline" });
  const jsonOnly = await tinyPixArt({ tokenizerFiles: ["tokenizer.json"] });
  const gpu = await testGpu();
  const a = await PixArtPipeline.encodePrompts(gpu, localFolder(sigma), [LONG]);
  equal(a.maxLength, 300);
  equal(a.notices.length, 0);
  const b = await PixArtPipeline.encodePrompts(gpu, localFolder(jsonOnly), [LONG], {
    maxLength: 300,
  });
  deepEqual(b.prompts[0].mask, a.prompts[0].mask);
  assertRelativeError(b.prompts[0].embeds, a.prompts[0].embeds, 1e-7, "spiece vs tokenizer.json");
  for (const dir of [sigma, jsonOnly]) await Deno.remove(dir, { recursive: true });
});

/** Width and height of a PNG (IHDR). */
async function pngSize(path: string): Promise<[number, number]> {
  const view = new DataView((await Deno.readFile(path)).buffer);
  return [view.getUint32(16), view.getUint32(20)];
}

Deno.test("pixart CLI from text: PNG, --save-embeddings then --prompt-embeds, --model/--text-encoder", async () => {
  const dir = await tinyPixArt();
  const work = await Deno.makeTempDir({ prefix: "pixart-text-cli-" });
  const common = ["--steps=2", "--height=32", "--width=48", "--cols=2", "--seed=3"];
  const fromText = join(work, "text.png");
  const saved = join(work, "embeddings");
  await pixartCommand([
    `--pipeline=${dir}`,
    "--prompt=a red bus in the snow",
    `--prompt=${LONG}`,
    `--save-embeddings=${saved}`,
    `--out=${fromText}`,
    ...common,
  ]);
  // Two 48×32 tiles with 2 px padding around and between.
  deepEqual(await pngSize(fromText), [102, 36]);
  // The cached files hold what the text stage computes for these captions.
  const direct = await PixArtPipeline.encodePrompts(await testGpu(), localFolder(dir), [
    "a red bus in the snow",
    LONG,
  ]);
  const files = [0, 1].map((i) => join(saved, `prompt-${i}.safetensors`));
  for (const [i, file] of files.entries()) {
    const read = await readPromptEmbeddingFile(file, 48);
    deepEqual(read.mask, direct.prompts[i].mask);
    deepEqual(read.embeds, direct.prompts[i].embeds);
  }
  const fromFiles = join(work, "files.png");
  await pixartCommand([
    `--pipeline=${dir}`,
    `--prompt-embeds=${files.join(",")}`,
    `--negative=${join(saved, "negative.safetensors")}`,
    `--out=${fromFiles}`,
    ...common,
  ]);
  deepEqual(await Deno.readFile(fromFiles), await Deno.readFile(fromText));
  // Separate folders: T5 first (released), then the transformer and VAE; same pixels.
  const fromFolders = join(work, "folders.png");
  await pixartCommand([
    `--model=${join(dir, "transformer")}`,
    `--vae=${join(dir, "vae")}`,
    `--text-encoder=${join(dir, "text_encoder")}`,
    `--tokenizer=${join(dir, "tokenizer")}`,
    "--max-length=120",
    "--prompt=a red bus in the snow",
    `--prompt=${LONG}`,
    `--out=${fromFolders}`,
    ...common,
  ]);
  deepEqual(await Deno.readFile(fromFolders), await Deno.readFile(fromText));
  for (const path of [dir, work]) await Deno.remove(path, { recursive: true });
});

Deno.test("PixArtPipeline from text: lazy transformer, T5 released before it loads, reproducible", async () => {
  const dir = await tinyPixArt();
  const gpu = await testGpu();
  const pipeline = await PixArtPipeline.load(gpu, localFolder(dir));
  equal(pipeline.hasTextEncoder, true);
  equal(pipeline.modelsLoaded, false);
  let liveAfterEncoding = -1;
  let texturesAfterEncoding = -1;
  const options = {
    prompts: ["a red bus in the snow"],
    height: 32,
    width: 32,
    steps: 2,
    seed: 4,
    onEncoded: () => {
      liveAfterEncoding = gpu.pool.liveBytes;
      texturesAfterEncoding = linearCacheBytes(gpu);
    },
  };
  const before = gpu.pool.liveBytes;
  const texturesBefore = linearCacheBytes(gpu);
  const first = await pipeline.generate(options);
  // Nothing of T5 is left when the transformer starts loading (buffers or weight textures).
  equal(liveAfterEncoding, before);
  equal(texturesAfterEncoding <= texturesBefore, true);
  equal(pipeline.modelsLoaded, true);
  deepEqual([first.images.length, first.height, first.width], [1, 32, 32]);
  const again = await pipeline.generate(options);
  deepEqual(again.images, first.images);
  pipeline.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pixart-calibrate --prompts-file calibrates on text captions", async () => {
  const dir = await tinyPixArt();
  const work = await Deno.makeTempDir({ prefix: "pixart-text-calibrate-" });
  const prompts = join(work, "captions.txt");
  await Deno.writeTextFile(prompts, "\uFEFFa red bus in the snow\r\n\na cat on a sofa\n");
  // No --vae-scale: the tiny VAE's factor 4 is read from the pipeline.
  await calibrateTinyPixArt(work, [`--pipeline=${dir}`, `--prompts-file=${prompts}`], 2);
  for (const path of [dir, work]) await Deno.remove(path, { recursive: true });
});

Deno.test("video CLI from text: 16 tokens, T5 folders, same video as from the saved embeddings", async () => {
  const dir = await writeTinySTDiT2Pipeline(await Deno.makeTempDir({ prefix: "stdit2-text-" }));
  const size = ["--frames=2", "--height=32", "--width=48", "--steps=2", "--seed=1"];
  const parts = [`--model=${join(dir, "transformer")}`, `--vae=${join(dir, "vae")}`];
  const fromText = join(dir, "text.png");
  const saved = join(dir, "embeddings");
  await videoCommand([
    ...parts,
    `--text-encoder=${join(dir, "text_encoder")}`,
    `--tokenizer=${join(dir, "tokenizer")}`,
    "--prompt=a red bus in the snow",
    `--save-embeddings=${saved}`,
    `--out=${fromText}`,
    ...size,
  ]);
  const embedding = await readPromptEmbeddingFile(join(saved, "prompt-0.safetensors"), 48);
  // model_max_length of the tiny STDiT2.
  equal(embedding.length, 16);
  const direct = await STDiT2Pipeline.encodePrompts(await testGpu(), localFolder(dir), [
    "a red bus in the snow",
  ]);
  deepEqual(embedding.embeds, direct.prompts[0].embeds);
  const fromFiles = join(dir, "files.png");
  await videoCommand([
    ...parts,
    `--prompt-embeds=${join(saved, "prompt-0.safetensors")}`,
    `--out=${fromFiles}`,
    ...size,
  ]);
  deepEqual(await Deno.readFile(fromFiles), await Deno.readFile(fromText));
  await Deno.remove(dir, { recursive: true });
});
