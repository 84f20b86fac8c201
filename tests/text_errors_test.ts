/**
 * Bad input on the text path: each case is one named error (file, field, expected vs actual)
 * raised before T5 or the transformer is loaded, or documented behaviour (empty prompt, long
 * prompt).
 */

import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { PixArtPipeline } from "../models/pixart/pipeline.ts";
import { loadT5Tokenizer } from "../models/t5/tokenizer_folder.ts";
import { T5TextEncoder } from "../models/t5/text_encoder.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { pixartCalibrateCommand } from "../cli/pixart_calibrate.ts";
import { readPromptsFile } from "../cli/prompts.ts";
import { videoCommand } from "../cli/video.ts";
import { CheckpointError, OptionError } from "../src/errors.ts";
import { testGpu } from "./helpers.ts";
import { writeTinyPixArtPipeline } from "../testing/tiny_text_pipelines.ts";
import { localFolder } from "../deno.ts";

/** `run` rejects with a `kind` whose message matches `pattern`. */
async function rejects(
  run: () => Promise<unknown>,
  kind: new (...a: never[]) => Error,
  pattern: RegExp,
): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!(e instanceof kind)) throw new Error(`expected ${kind.name}, got ${e}`);
    if (!pattern.test((e as Error).message)) {
      throw new Error(`"${(e as Error).message}" does not match ${pattern}`);
    }
    return;
  }
  throw new Error(`no ${kind.name} (${pattern})`);
}

const dir = await writeTinyPixArtPipeline(await Deno.makeTempDir({ prefix: "text-errors-" }));
const tokenizer = join(dir, "tokenizer");
const textEncoder = join(dir, "text_encoder");

/** A copy of the tiny pipeline with `change` applied. */
async function variant(change: (copy: string) => Promise<void>): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "text-errors-variant-" });
  for (const part of ["tokenizer", "text_encoder", "transformer", "vae", "scheduler"]) {
    await Deno.mkdir(join(copy, part));
    for await (const entry of Deno.readDir(join(dir, part))) {
      await Deno.copyFile(join(dir, part, entry.name), join(copy, part, entry.name));
    }
  }
  await Deno.copyFile(join(dir, "model_index.json"), join(copy, "model_index.json"));
  await change(copy);
  return copy;
}

Deno.test("tokenizer folder: missing, corrupt spiece.model, corrupt tokenizer.json", async () => {
  const empty = await Deno.makeTempDir();
  await rejects(
    () => loadT5Tokenizer(localFolder(empty)),
    CheckpointError,
    /has neither spiece.model nor tokenizer.json/,
  );
  await rejects(
    () => loadT5Tokenizer(localFolder(join(empty, "absent"))),
    CheckpointError,
    /does not exist or has neither/,
  );
  // A truncated model: the protobuf ends inside a field.
  const bytes = await Deno.readFile(join(tokenizer, "spiece.model"));
  await Deno.writeFile(join(empty, "spiece.model"), bytes.subarray(0, 1000));
  await rejects(() => loadT5Tokenizer(localFolder(empty)), CheckpointError, /spiece\.model/);
  // Not a protobuf at all (a corrupt spiece.model is not passed over for tokenizer.json).
  await Deno.writeTextFile(join(empty, "spiece.model"), "<html>not found</html>");
  await Deno.copyFile(join(tokenizer, "tokenizer.json"), join(empty, "tokenizer.json"));
  await rejects(() => loadT5Tokenizer(localFolder(empty)), CheckpointError, /spiece\.model/);
  await Deno.remove(join(empty, "spiece.model"));
  await Deno.writeTextFile(join(empty, "tokenizer.json"), '{"model": ');
  await rejects(
    () => loadT5Tokenizer(localFolder(empty)),
    CheckpointError,
    /tokenizer\.json: not a valid JSON file/,
  );
  await Deno.writeTextFile(join(empty, "tokenizer.json"), '{"model": {"type": "BPE"}}');
  await rejects(() => loadT5Tokenizer(localFolder(empty)), CheckpointError, /tokenizer\.json/);
  // Both readers agree on the golden folder: 2000 pieces + 100 sentinels.
  equal((await loadT5Tokenizer(localFolder(tokenizer))).vocabSize, 2100);
  await Deno.remove(empty, { recursive: true });
});

Deno.test("tokenizer vocabulary vs the encoder's embedding rows, both ways", async () => {
  const gpu = await testGpu();
  const noSentinels = await variant(async (copy) => {
    // 2000 ids against 2128 rows: more than padding to a multiple of 128 explains.
    const path = join(copy, "tokenizer", "tokenizer_config.json");
    const config = JSON.parse(await Deno.readTextFile(path));
    await Deno.writeTextFile(path, JSON.stringify({ ...config, extra_ids: 0 }));
    await Deno.remove(join(copy, "tokenizer", "tokenizer.json"));
  });
  await rejects(
    () => PixArtPipeline.load(gpu, localFolder(noSentinels)),
    CheckpointError,
    /spiece\.model declares 2000 token ids but .*vocab_size 2128 embedding rows \(expected 2000\.\.2048\)/,
  );
  const smallTable = await variant(async (copy) => {
    const path = join(copy, "text_encoder", "config.json");
    const config = JSON.parse(await Deno.readTextFile(path));
    await Deno.writeTextFile(path, JSON.stringify({ ...config, vocab_size: 2000 }));
  });
  await rejects(
    () =>
      T5TextEncoder.load(gpu, {
        textEncoder: localFolder(join(smallTable, "text_encoder")),
        tokenizer: localFolder(join(smallTable, "tokenizer")),
      }),
    CheckpointError,
    /declares 2100 token ids but .*vocab_size 2000/,
  );
  for (const path of [noSentinels, smallTable]) await Deno.remove(path, { recursive: true });
});

Deno.test("encoder width ≠ the transformer's caption_channels is named at load", async () => {
  const narrow = await writeTinyPixArtPipeline(await Deno.makeTempDir(), { captionChannels: 40 });
  await rejects(
    async () => PixArtPipeline.load(await testGpu(), localFolder(narrow)),
    CheckpointError,
    /text_encoder\/config\.json: the text encoder's d_model is 48 but .*transformer\/config\.json takes captions 40 wide/,
  );
  await rejects(
    () =>
      pixartCommand([
        `--model=${join(narrow, "transformer")}`,
        `--vae=${join(narrow, "vae")}`,
        `--text-encoder=${textEncoder}`,
        `--tokenizer=${tokenizer}`,
        "--prompt=a cat",
      ]),
    CheckpointError,
    /d_model is 48 but/,
  );
  await Deno.remove(narrow, { recursive: true });
});

Deno.test("model_index.json: another pipeline is refused; a listed text encoder must exist", async () => {
  const gpu = await testGpu();
  const other = await variant((copy) =>
    Deno.writeTextFile(
      join(copy, "model_index.json"),
      JSON.stringify({ _class_name: "StableDiffusionPipeline" }),
    )
  );
  await rejects(
    () => PixArtPipeline.load(gpu, localFolder(other)),
    CheckpointError,
    /"_class_name" is "StableDiffusionPipeline", not a PixArt pipeline/,
  );
  const noEncoder = await variant((copy) =>
    Deno.remove(join(copy, "text_encoder"), { recursive: true })
  );
  // Without its text encoder the folder still generates from embeddings; text is refused.
  const pipeline = await PixArtPipeline.load(gpu, localFolder(noEncoder));
  equal(pipeline.hasTextEncoder, false);
  await rejects(
    () => pipeline.generate({ prompts: ["a cat"], steps: 1 }),
    OptionError,
    /lists "text_encoder" but text_encoder\/config\.json is missing/,
  );
  pipeline.release();
  for (const path of [other, noEncoder]) await Deno.remove(path, { recursive: true });
});

Deno.test("generate: mixed prompts, text without an encoder, both negatives, bad max length", async () => {
  const gpu = await testGpu();
  const pipeline = await PixArtPipeline.load(gpu, localFolder(dir));
  const embedding = {
    source: "e",
    length: 2,
    channels: 48,
    embeds: new Float32Array(96),
    mask: Float32Array.of(1, 0),
  };
  await rejects(
    () => pipeline.generate({ prompts: ["a", embedding] as unknown as string[] }),
    OptionError,
    /all text or all embeddings/,
  );
  await rejects(
    () => pipeline.generate({ prompts: ["a"], negative: embedding, negativePrompt: "b" }),
    OptionError,
    /either negativePrompt/,
  );
  await rejects(
    () => pipeline.generate({ prompts: [embedding], negativePrompt: "b" }),
    OptionError,
    /negativePrompt is for text prompts/,
  );
  await rejects(
    () => pipeline.generate({ prompts: ["a"], maxLength: 1 }),
    OptionError,
    /max length must be an integer ≥ 2/,
  );
  // The options were refused before anything was loaded.
  equal(pipeline.modelsLoaded, false);
  pipeline.release();
});

Deno.test("an empty caption is valid: </s> and padding", async () => {
  const encoded = await PixArtPipeline.encodePrompts(await testGpu(), localFolder(dir), [""], {
    maxLength: 8,
    negativePrompt: null,
  });
  deepEqual(Array.from(encoded.prompts[0].mask), [1, 0, 0, 0, 0, 0, 0, 0]);
  equal(encoded.notices.length, 0);
});

Deno.test("prompts files: invalid UTF-8, a folder, no caption; text options without text", async () => {
  const work = await Deno.makeTempDir();
  const bad = join(work, "bad.txt");
  await Deno.writeFile(bad, Uint8Array.of(0x61, 0x0a, 0x62, 0xff, 0x63, 0x0a));
  await rejects(() => readPromptsFile(bad), OptionError, /bad\.txt: line 2 is not valid UTF-8/);
  await rejects(() => readPromptsFile(work), OptionError, /is a folder, not a text file/);
  await rejects(() => readPromptsFile(join(work, "none.txt")), OptionError, /cannot be read/);
  const blank = join(work, "blank.txt");
  await Deno.writeTextFile(blank, "\n  \n");
  await rejects(() => readPromptsFile(blank), OptionError, /holds no caption/);
  await rejects(
    () => pixartCalibrateCommand([`--pipeline=${dir}`, `--prompts-file=${bad}`, "--threshold=0.1"]),
    OptionError,
    /not valid UTF-8/,
  );
  await rejects(
    () => pixartCommand([`--model=${dir}/transformer`, `--vae=${dir}/vae`, "--prompt=a cat"]),
    OptionError,
    /text captions need a text encoder/,
  );
  await rejects(
    () => pixartCommand([`--pipeline=${dir}`, "--prompt=a", "--prompt-embeds=x.safetensors"]),
    OptionError,
    /give one of --prompt, --prompt-embeds/,
  );
  await rejects(
    () => pixartCommand([`--pipeline=${dir}`, "--prompt-embeds=x.safetensors", "--max-length=9"]),
    OptionError,
    /--max-length go with text captions, not embedding files/,
  );
  await rejects(
    () => pixartCommand([`--pipeline=${dir}`, `--model=${dir}`, "--prompt=a"]),
    OptionError,
    /--pipeline holds every part; leave out --model/,
  );
  await rejects(
    () => videoCommand(["--model=m", "--vae=v", "--prompt=a red bus"]),
    OptionError,
    /text captions need a text encoder: --text-encoder DIR/,
  );
  await Deno.remove(work, { recursive: true });
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
