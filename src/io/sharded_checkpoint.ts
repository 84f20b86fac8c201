/**
 * A checkpoint that may be split over several safetensors shards (the Hugging Face
 * `*.safetensors.index.json` layout) seen as one TensorSource. A single file or a folder
 * holding one works too, so the model loader takes whatever the user points at.
 */

import { basename, dirname, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { SafetensorsFile, type TensorInfo, type TensorSource } from "./safetensors.ts";

const INDEX_SUFFIX = ".safetensors.index.json";
/** Checked first in a folder, so an extra stray file does not make the choice ambiguous. */
const PREFERRED_STEMS = ["diffusion_pytorch_model", "model"];

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    throw new CheckpointError(`${path}: cannot open (${(e as Error).message})`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The index if there is one, else the single safetensors file, in a checkpoint folder. */
async function findCheckpointFile(folder: string): Promise<string> {
  for (const suffix of [INDEX_SUFFIX, ".safetensors"]) {
    for (const stem of PREFERRED_STEMS) {
      const candidate = join(folder, stem + suffix);
      if (await exists(candidate)) return candidate;
    }
    const found: string[] = [];
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile && entry.name.endsWith(suffix)) found.push(entry.name);
    }
    if (found.length === 1) return join(folder, found[0]);
    if (found.length > 1) {
      throw new CheckpointError(
        `${folder}: several *${suffix} files (${found.sort().join(", ")}); name one`,
      );
    }
  }
  throw new CheckpointError(`${folder}: no *.safetensors file or ${INDEX_SUFFIX} index`);
}

async function readWeightMap(indexPath: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (e) {
    throw new CheckpointError(`${indexPath}: cannot read index (${(e as Error).message})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${indexPath}: index has no "weight_map" object`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard === "") {
      throw new CheckpointError(`${indexPath}: weight_map entry "${name}" is not a file name`);
    }
    map.set(name, shard);
  }
  return map;
}

export class ShardedCheckpoint implements TensorSource {
  private constructor(
    readonly path: string,
    private readonly owner: Map<string, SafetensorsFile>,
    /** Every shard, opened once, in index order. */
    readonly shards: readonly SafetensorsFile[],
  ) {}

  /**
   * Opens a `*.safetensors` file, a `*.safetensors.index.json` index, or a folder holding one
   * of them. Every shard header is read now, so a missing shard or a tensor the index lists
   * but its shard lacks is reported here rather than halfway through loading a model.
   */
  static async open(pathOrFolder: string): Promise<ShardedCheckpoint> {
    const path = (await isDirectory(pathOrFolder))
      ? await findCheckpointFile(pathOrFolder)
      : pathOrFolder;
    if (!path.endsWith(".json")) {
      const file = await SafetensorsFile.open(path);
      const owner = new Map(file.names().map((name) => [name, file]));
      return new ShardedCheckpoint(path, owner, [file]);
    }
    const weightMap = await readWeightMap(path);
    const shardsByName = new Map<string, SafetensorsFile>();
    try {
      const owner = new Map<string, SafetensorsFile>();
      for (const [name, shardName] of weightMap) {
        let shard = shardsByName.get(shardName);
        if (!shard) {
          const shardPath = join(dirname(path), shardName);
          if (!(await exists(shardPath))) {
            throw new CheckpointError(
              `${path}: shard "${shardName}" (holding tensor "${name}") is missing`,
            );
          }
          shard = await SafetensorsFile.open(shardPath);
          shardsByName.set(shardName, shard);
        }
        if (!shard.has(name)) {
          throw new CheckpointError(
            `${path}: tensor "${name}" is listed in the index but absent from shard ` +
              `"${basename(shard.path)}"`,
          );
        }
        owner.set(name, shard);
      }
      return new ShardedCheckpoint(path, owner, [...shardsByName.values()]);
    } catch (e) {
      for (const shard of shardsByName.values()) shard.close();
      throw e;
    }
  }

  names(): string[] {
    return [...this.owner.keys()].sort();
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  #shard(name: string): SafetensorsFile {
    const shard = this.owner.get(name);
    if (!shard) throw new CheckpointError(`${this.path}: no tensor named "${name}"`);
    return shard;
  }

  info(name: string): TensorInfo {
    return this.#shard(name).info(name);
  }

  readFloat32(name: string): Promise<Float32Array> {
    return this.#shard(name).readFloat32(name);
  }

  readFloat16(name: string): Promise<Float16Array> {
    return this.#shard(name).readFloat16(name);
  }

  readInt(name: string): Promise<Int32Array> {
    return this.#shard(name).readInt(name);
  }

  readRaw(name: string): Promise<Uint8Array> {
    return this.#shard(name).readRaw(name);
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }
}
