/**
 * Bad PixArt inputs give errors that say what is wrong and where: configs, weight tables,
 * prompt files (caption width, mask length, shapes, mask values), latent sizes, conditioning
 * and CLI options.
 */

import { join } from "node:path";
import { CaptionConditioning } from "../src/nn/caption_conditioning.ts";
import { PixArtModel } from "../models/pixart/model.ts";
import { parsePixArtConfig } from "../models/pixart/config.ts";
import { samplePixArt } from "../models/pixart/sample.ts";
import { stackPrompts } from "../src/io/prompt_embeddings.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { CheckpointError, OptionError, ShapeError } from "../src/errors.ts";
import { type MemoryTensor, MemoryTensorSource } from "../src/io/memory_source.ts";
import { Tensor } from "../src/tensor.ts";
import { assertRejects, assertThrows } from "./asserts.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { loadTinyPixArt, randomPrompt, TINY_PIXART, writePromptFile } from "./pixart_fixtures.ts";
import { localFolder, openSafetensors, readPromptEmbeddingFile } from "../deno.ts";

async function tinyConfig(): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(goldenPath(TINY_PIXART, "config.json")));
}

Deno.test("PixArt configs of other architectures or inconsistent sizes are refused", async () => {
  const base = await tinyConfig();
  const parse = (changes: Record<string, unknown>) => () =>
    parsePixArtConfig({ ...base, ...changes }, "cfg.json");
  assertThrows(parse({ _class_name: "DiTTransformer2DModel" }), CheckpointError, "not a PixArt");
  assertThrows(parse({ norm_type: "ada_norm_zero" }), CheckpointError, '"norm_type"');
  assertThrows(parse({ cross_attention_dim: 40 }), CheckpointError, "must equal the model width");
  assertThrows(parse({ caption_channels: null }), CheckpointError, '"caption_channels"');
  assertThrows(parse({ sample_size: 15 }), CheckpointError, "not divisible by patch_size");
  assertThrows(parse({ out_channels: 6 }), CheckpointError, "learned sigma");
  assertThrows(parse({ num_layers: "two" }), CheckpointError, '"num_layers"');
  // diffusers: interpolation_scale null → max(sample_size // 64, 1); size conditioning on at 128.
  const sigma = parsePixArtConfig({
    ...base,
    sample_size: 128,
    interpolation_scale: null,
    use_additional_conditions: null,
  }, "x");
  if (sigma.interpolationScale !== 2 || !sigma.useAdditionalConditions) {
    throw new Error(`defaults at sample_size 128: ${JSON.stringify(sigma)}`);
  }
  await assertRejects(
    () => PixArtModel.load(null as never, localFolder("/nonexistent/pixart")),
    CheckpointError,
    /does not exist/,
  );
});

Deno.test("PixArt weight tables: every missing, unexpected or mis-shaped tensor is named", async () => {
  const file = await openSafetensors(
    goldenPath(TINY_PIXART, "diffusion_pytorch_model.safetensors"),
  );
  const tensors = new Map<string, MemoryTensor>();
  for (const name of file.names()) {
    tensors.set(name, { shape: file.info(name).shape, data: await file.readFloat32(name) });
  }
  file.close();
  // A stored sincos buffer (some conversions keep it) is accepted at the trained grid's shape.
  const withTable = new Map(tensors);
  withTable.set("pos_embed.pos_embed", { shape: [1, 64, 36], data: new Float32Array(64 * 36) });
  const config = parsePixArtConfig(await tinyConfig(), "config.json");
  const gpu = await testGpu();
  (await PixArtModel.fromSource(gpu, config, new MemoryTensorSource("t", withTable))).release();
  tensors.delete("transformer_blocks.1.attn2.to_k.weight");
  const table = tensors.get("transformer_blocks.0.scale_shift_table")!;
  tensors.set("transformer_blocks.0.scale_shift_table", { ...table, shape: [4, 54] });
  tensors.set("extra.weight", { shape: [2], data: new Float32Array(2) });
  tensors.set("pos_embed.pos_embed", { shape: [1, 48, 36], data: new Float32Array(48 * 36) });
  const source = new MemoryTensorSource("broken.safetensors", tensors);
  for (
    const pattern of [
      /broken\.safetensors: 4 problem\(s\) with the PixArt weights/,
      /pos_embed\.pos_embed: expected shape \[1,64,36\], got \[1,48,36\]/,
      /missing transformer_blocks\.1\.attn2\.to_k\.weight \[36,36\]/,
      /transformer_blocks\.0\.scale_shift_table: expected shape \[6,36\], got \[4,54\]/,
      /unexpected extra\.weight \[2\]/,
    ]
  ) {
    await assertRejects(
      () => PixArtModel.fromSource(gpu, config, source),
      CheckpointError,
      pattern,
    );
  }
  // The size-conditioning embedders are required exactly when the config turns them on.
  const sizecond = parsePixArtConfig(
    { ...(await tinyConfig()), use_additional_conditions: true },
    "c",
  );
  await assertRejects(
    () => PixArtModel.fromSource(gpu, sizecond, new MemoryTensorSource("plain", withTable)),
    CheckpointError,
    /missing adaln_single\.emb\.resolution_embedder\.linear_1\.weight \[12,256\]/,
  );
});

Deno.test("prompt files: wrong width, mask length, shapes and values name the file and tensor", async () => {
  const dir = await Deno.makeTempDir();
  const prompt = randomPrompt(6, 4, 1);
  const wide = await writePromptFile(dir, "wide.safetensors", randomPrompt(6, 4, 2, 32));
  await assertRejects(
    () => readPromptEmbeddingFile(wide, 40),
    CheckpointError,
    /wide\.safetensors: "prompt_embeds" is \[6, 32\] but the model's caption_channels is 40/,
  );
  const shortMask = await writePromptFile(dir, "short.safetensors", prompt, {
    maskShape: [1, 5],
    mask: new BigInt64Array(5).fill(1n),
  });
  await assertRejects(
    () => readPromptEmbeddingFile(shortMask, 40),
    CheckpointError,
    /short\.safetensors: tensor "prompt_attention_mask" has 5 entries but "prompt_embeds" has 6/,
  );
  const batched = await writePromptFile(dir, "batched.safetensors", prompt, {
    embedsShape: [2, 3, 40],
  });
  await assertRejects(
    () => readPromptEmbeddingFile(batched, 40),
    CheckpointError,
    /batched\.safetensors: tensor "prompt_embeds" must be \[L, C\] or \[1, L, C\], got \[2,3,40\]/,
  );
  const fuzzy = await writePromptFile(dir, "fuzzy.safetensors", prompt, {
    mask: BigInt64Array.from([1n, 1n, 2n, 0n, 0n, 0n]),
  });
  await assertRejects(
    () => readPromptEmbeddingFile(fuzzy, 40),
    CheckpointError,
    /fuzzy\.safetensors: "prompt_attention_mask"\[2\] is 2; mask entries must be 0 or 1/,
  );
  const other = join(dir, "other.safetensors");
  await Deno.copyFile(goldenPath(TINY_PIXART, "forward.safetensors"), other);
  await assertRejects(
    () => readPromptEmbeddingFile(other),
    CheckpointError,
    /no tensor "prompt_embeds"/,
  );
  await assertRejects(
    () => readPromptEmbeddingFile(join(dir, "none.safetensors")),
    CheckpointError,
    /cannot open/,
  );
  assertThrows(
    () => stackPrompts([prompt, randomPrompt(3, 3, 4, 32)]),
    OptionError,
    "differ in width",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("PixArt sizes, conditioning and guidance errors come before any GPU work", async () => {
  const model = await loadTinyPixArt();
  const gpu = model.gpu;
  const prompts = [randomPrompt(5, 5, 1)];
  const negative = randomPrompt(5, 1, 2);
  // Default VAE factor 8 × patch 2: sides must be multiples of 16 px.
  await assertRejects(
    () => samplePixArt(model, { prompts, negative, height: 120, width: 128 }),
    OptionError,
    /height 120 px gives a latent of 15 that is not a whole number of 2×2 patches: use a multiple of 16 px/,
  );
  await assertRejects(
    () => samplePixArt(model, { prompts, negative, height: 128, width: 100 }),
    OptionError,
    /width 100 px gives a latent of 12\.5/,
  );
  await assertRejects(
    () => samplePixArt(model, { prompts, steps: 2 }),
    OptionError,
    /needs the negative/,
  );
  await assertRejects(
    () => samplePixArt(model, { prompts: [randomPrompt(5, 5, 3, 36)], negative }),
    OptionError,
    /caption_channels is 40/,
  );
  await assertRejects(
    () => samplePixArt(model, { prompts: [], negative }),
    OptionError,
    /at least one/,
  );

  const caption = () => Tensor.fromArray(gpu, new Float32Array(5 * 40), [1, 5, 40]);
  assertThrows(
    () => new CaptionConditioning(caption(), Tensor.fromArray(gpu, new Float32Array(4), [1, 4])),
    ShapeError,
    "caption mask: expected f32 [1, 5]",
  );
  const conditioning = new CaptionConditioning(
    caption(),
    Tensor.fromArray(gpu, new Float32Array(5).fill(1), [1, 5]),
  );
  const odd = Tensor.fromArray(gpu, new Float32Array(4 * 15 * 12), [1, 4, 15, 12]);
  assertThrows(() => model.forward(odd, 10, conditioning), ShapeError, "15×12 is not divisible");
  const two = Tensor.fromArray(gpu, new Float32Array(2 * 4 * 16 * 12), [2, 4, 16, 12]);
  assertThrows(() => model.forward(two, 10, conditioning), ShapeError, "caption batch 1");
  const sizecond = await loadTinyPixArt("pixart-tiny-random-sizecond");
  const square = Tensor.fromArray(gpu, new Float32Array(4 * 16 * 16), [1, 4, 16, 16]);
  assertThrows(() => sizecond.forward(square, 10, conditioning), ShapeError, "size conditioning");
  const narrow = new CaptionConditioning(
    Tensor.fromArray(gpu, new Float32Array(5 * 36), [1, 5, 36]),
    Tensor.fromArray(gpu, new Float32Array(5).fill(1), [1, 5]),
  );
  assertThrows(() => model.forward(square, 10, narrow), ShapeError, "caption_channels is 40");
  for (const t of [odd, two, square]) t.release();
  conditioning.release();
  narrow.release();
  sizecond.release();
  model.release();
});

Deno.test("pixart CLI: missing and malformed options", async () => {
  await assertRejects(() => pixartCommand([]), OptionError, /--model is required/);
  await assertRejects(
    () => pixartCommand(["--model=m", "--vae=v", "--prompt=p", "--height=abc"]),
    OptionError,
    /--height must be a number/,
  );
  await assertRejects(
    () => pixartCommand(["--model=m", "--vae=v", "--prompt=p", "--sampler=euler"]),
    OptionError,
    /--sampler must be one of/,
  );
  await assertRejects(
    () => pixartCommand(["--model=/nonexistent", "--vae=v", "--prompt-embeds=p"]),
    CheckpointError,
    /does not exist/,
  );
});
