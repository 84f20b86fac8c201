/**
 * Tiny pipeline folders for running the whole text path without downloading anything: the
 * golden T5 tokenizer (`t5-tokenizer`), the golden random T5 encoder (`t5-tiny-random`,
 * d_model 48), the golden random VAE, and a random transformer made to take 48-wide captions:
 * PixArt shaped like `pixart-tiny-random` (diffusers layout with model_index.json and a
 * scheduler config), or STDiT2 shaped like `stdit-tiny-random`. Random weights draw meaningless
 * pictures: these check plumbing, not quality.
 *
 *   deno run -A testing/tiny_text_pipelines.ts [DIR]   (default out/tiny-pixart-pipeline)
 *   deno task pixart --pipeline out/tiny-pixart-pipeline --prompt "a red bus in the snow"
 */

import { join } from "node:path";
import { parsePixArtConfig } from "../models/pixart/config.ts";
import { expectedPixArtShapes } from "../models/pixart/weights.ts";
import { parseSTDiT2Config } from "../models/stdit2/config.ts";
import { expectedSTDiT2Shapes } from "../models/stdit2/weights.ts";
import { float32Tensors } from "./model_copy.ts";
import { RandomTensorSource } from "./random_source.ts";
import { writeBytes, writeSafetensors } from "../deno.ts";

/** The golden sets shipped with the repository (GOLDEN_DIR overrides, as for the tests). */
export function defaultGoldenDir(): string {
  return Deno.env.get("GOLDEN_DIR") ?? new URL("../tests/golden", import.meta.url).pathname;
}

export interface TinyPixArtPipelineOptions {
  /** model_index.json `_class_name` (default PixArtAlphaPipeline: 120 tokens); null: no index. */
  className?: string | null;
  /** Which tokenizer files to write (default: spiece.model and tokenizer.json). */
  tokenizerFiles?: ("spiece.model" | "tokenizer.json")[];
  /** caption_channels of the transformer (default 48, the encoder's width). */
  captionChannels?: number;
  /** Seed of the transformer's random weights. */
  seed?: number;
}

async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(join(to, ".."), { recursive: true });
  await Deno.copyFile(from, to);
}

/** Writes N(0, 0.02²) weights of every tensor in `shapes` as one safetensors file. */
async function writeRandomWeights(
  path: string,
  shapes: ReadonlyMap<string, readonly number[]>,
  seed: number,
): Promise<void> {
  const source = new RandomTensorSource(path, shapes, seed);
  await writeSafetensors(path, await float32Tensors(source));
}

/** Copies the golden T5 encoder and tokenizer into `dir/text_encoder` and `dir/tokenizer`. */
async function writeTextParts(
  dir: string,
  golden: string,
  tokenizerFiles: readonly string[],
): Promise<void> {
  for (const file of ["config.json", "model.safetensors"]) {
    await copy(join(golden, "t5-tiny-random", file), join(dir, "text_encoder", file));
  }
  for (const file of [...tokenizerFiles, "tokenizer_config.json", "special_tokens_map.json"]) {
    await copy(join(golden, "t5-tokenizer", file), join(dir, "tokenizer", file));
  }
}

/** Writes the folder and returns its path. */
export async function writeTinyPixArtPipeline(
  dir: string,
  options: TinyPixArtPipelineOptions = {},
  golden = defaultGoldenDir(),
): Promise<string> {
  const className = options.className === undefined ? "PixArtAlphaPipeline" : options.className;
  await Deno.mkdir(dir, { recursive: true });
  if (className !== null) {
    await writeBytes(
      join(dir, "model_index.json"),
      JSON.stringify(
        {
          _class_name: className,
          _diffusers_version: "0.30.0",
          scheduler: ["diffusers", "DPMSolverMultistepScheduler"],
          text_encoder: ["transformers", "T5EncoderModel"],
          tokenizer: ["transformers", "T5Tokenizer"],
          transformer: ["diffusers", "PixArtTransformer2DModel"],
          vae: ["diffusers", "AutoencoderKL"],
        },
        null,
        2,
      ),
    );
  }
  await writeTextParts(dir, golden, options.tokenizerFiles ?? ["spiece.model", "tokenizer.json"]);
  for (const file of ["config.json", "diffusion_pytorch_model.safetensors"]) {
    await copy(join(golden, "vae-tiny-random", file), join(dir, "vae", file));
  }
  const configJson = JSON.parse(
    await Deno.readTextFile(join(golden, "pixart-tiny-random", "config.json")),
  );
  configJson.caption_channels = options.captionChannels ?? 48;
  const transformerDir = join(dir, "transformer");
  await Deno.mkdir(transformerDir, { recursive: true });
  await writeBytes(
    join(transformerDir, "config.json"),
    JSON.stringify(configJson, null, 2),
  );
  const config = parsePixArtConfig(configJson, join(transformerDir, "config.json"));
  await writeRandomWeights(
    join(transformerDir, "diffusion_pytorch_model.safetensors"),
    expectedPixArtShapes(config),
    options.seed ?? 0,
  );
  await Deno.mkdir(join(dir, "scheduler"), { recursive: true });
  await writeBytes(
    join(dir, "scheduler", "scheduler_config.json"),
    JSON.stringify(
      {
        _class_name: "DPMSolverMultistepScheduler",
        num_train_timesteps: 1000,
        beta_schedule: "linear",
        beta_start: 0.0001,
        beta_end: 0.02,
        prediction_type: "epsilon",
        solver_order: 2,
        algorithm_type: "dpmsolver++",
      },
      null,
      2,
    ),
  );
  return dir;
}

/**
 * An Open-Sora-style folder: `transformer/` (a random STDiT2 like `stdit-tiny-random` with
 * caption_channels 48 and `modelMaxLength` caption tokens), `vae/`, `text_encoder/` and
 * `tokenizer/` (spiece.model only, as DeepFloyd/t5-v1_1-xxl ships it).
 */
export async function writeTinySTDiT2Pipeline(
  dir: string,
  modelMaxLength = 16,
  golden = defaultGoldenDir(),
): Promise<string> {
  await writeTextParts(dir, golden, ["spiece.model"]);
  for (const file of ["config.json", "diffusion_pytorch_model.safetensors"]) {
    await copy(join(golden, "vae-tiny-random", file), join(dir, "vae", file));
  }
  const configJson = JSON.parse(
    await Deno.readTextFile(join(golden, "stdit-tiny-random", "config.json")),
  );
  configJson.caption_channels = 48;
  configJson.model_max_length = modelMaxLength;
  const transformerDir = join(dir, "transformer");
  await Deno.mkdir(transformerDir, { recursive: true });
  const configPath = join(transformerDir, "config.json");
  await writeBytes(configPath, JSON.stringify(configJson, null, 2));
  await writeRandomWeights(
    join(transformerDir, "model.safetensors"),
    expectedSTDiT2Shapes(parseSTDiT2Config(configJson, configPath)),
    1,
  );
  return dir;
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "out/tiny-pixart-pipeline";
  await writeTinyPixArtPipeline(dir);
  console.log(
    `wrote ${dir}; try: deno task pixart --pipeline ${dir} --prompt "a red bus in the snow"`,
  );
}
