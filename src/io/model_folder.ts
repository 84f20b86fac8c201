/** Loading a model from its folder (`config.json` + safetensors weights), shared by every family. */

import { CheckpointError } from "../errors.ts";
import { type JsonConfig, parseJsonConfig } from "./config.ts";
import { type Folder, readText } from "./folder.ts";
import type { TensorSource } from "./safetensors.ts";
import { ShardedCheckpoint } from "./sharded_checkpoint.ts";
import type { DType } from "../tensor.ts";

/** A model given as its config.json value and its tensors (fetched bytes, memory). */
export interface ModelSource {
  config: unknown;
  source: TensorSource;
}

/** A config given as a JSON value (or its text), checked to be an object. */
export function asJsonConfig(value: unknown, path: string): JsonConfig {
  if (typeof value === "string") return parseJsonConfig(value, path);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CheckpointError(`${path}: config is not a JSON object`);
  }
  return value as JsonConfig;
}

/** `name` in `folder` parsed as a JSON object (a CheckpointError naming the file otherwise). */
export async function readJsonConfig(folder: Folder, name: string): Promise<JsonConfig> {
  if ((await folder.kind(name)) !== "file") {
    throw new CheckpointError(`${folder.pathOf(name)}: cannot read config (not found)`);
  }
  return parseJsonConfig(await readText(folder, name), folder.pathOf(name));
}

/**
 * Parses `folder/config.json` with `parse`, opens the (possibly sharded) weights and hands both
 * to `build`; the checkpoint is closed afterwards whatever happens. `kind` names the folder in
 * errors ("model", "VAE").
 */
export async function loadFromFolder<Config, Model>(
  folder: Folder,
  kind: string,
  parse: (raw: JsonConfig, path: string) => Config,
  build: (config: Config, source: TensorSource) => Promise<Model>,
): Promise<Model> {
  const configPath = folder.pathOf("config.json");
  const configKind = await folder.kind("config.json");
  if (configKind !== "file") {
    const list = await folder.list().catch(() => null);
    throw new CheckpointError(
      list === null && configKind === null
        ? `${kind} folder ${folder.location} does not exist or has no config.json`
        : `${kind} folder ${folder.location} has no config.json`,
    );
  }
  const config = parse(await readJsonConfig(folder, "config.json"), configPath);
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
