/** Loading a model from its folder (`config.json` + safetensors weights), shared by every family. */

import { join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { type JsonConfig, readJsonConfig } from "./config.ts";
import type { TensorSource } from "./safetensors.ts";
import { ShardedCheckpoint } from "./sharded_checkpoint.ts";
import type { DType } from "../tensor.ts";

/**
 * Parses `folder/config.json` with `parse`, opens the (possibly sharded) weights and hands both
 * to `build`; the checkpoint is closed afterwards whatever happens. `kind` names the folder in
 * errors ("model", "VAE").
 */
export async function loadFromFolder<Config, Model>(
  folder: string,
  kind: string,
  parse: (raw: JsonConfig, path: string) => Config,
  build: (config: Config, source: TensorSource) => Promise<Model>,
): Promise<Model> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(folder);
  } catch {
    throw new CheckpointError(`${kind} folder ${folder} does not exist`);
  }
  if (!stat.isDirectory) throw new CheckpointError(`${folder} is not a folder`);
  const configPath = join(folder, "config.json");
  const config = parse(await readJsonConfig(configPath), configPath);
  const source = await ShardedCheckpoint.open(folder);
  try {
    return await build(config, source);
  } finally {
    source.close();
  }
}

/** The storage dtype of large weights: f32 (default) or f16. */
export function weightDtype(dtype: DType | undefined, what = "weight"): "f32" | "f16" {
  const chosen = dtype ?? "f32";
  if (chosen !== "f32" && chosen !== "f16") {
    throw new CheckpointError(`${what} dtype must be f32 or f16, got ${chosen}`);
  }
  return chosen;
}
