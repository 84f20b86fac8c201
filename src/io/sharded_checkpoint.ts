/**
 * A checkpoint that may be split over several safetensors shards (the Hugging Face
 * `*.safetensors.index.json` layout) seen as one TensorSource. A single file or a folder
 * holding one works too, so the model loader takes whatever the user points at.
 */

import { CheckpointError } from "../errors.ts";
import { type Folder, readText } from "./folder.ts";
import { TensorTable } from "./tensor_table.ts";
import { SafetensorsFile, type TensorInfo, type TensorSource } from "./safetensors.ts";

const INDEX_SUFFIX = ".safetensors.index.json";
/** Checked first in a folder, so an extra stray file does not make the choice ambiguous. */
const PREFERRED_STEMS = ["diffusion_pytorch_model", "model"];

/** The index if there is one, else the single safetensors file, in a checkpoint folder. */
async function findCheckpointFile(folder: Folder): Promise<string> {
  const listed = await folder.list();
  for (const suffix of [INDEX_SUFFIX, ".safetensors"]) {
    for (const stem of PREFERRED_STEMS) {
      const kind = await folder.kind(stem + suffix);
      if (kind === "file") return stem + suffix;
      if (kind === "folder") {
        throw new CheckpointError(`${folder.pathOf(stem + suffix)}: is a folder, not a file`);
      }
    }
    const found = (listed ?? []).filter((name) => name.endsWith(suffix));
    if (found.length === 1) return found[0];
    if (found.length > 1) {
      throw new CheckpointError(
        `${folder.location}: several *${suffix} files (${found.sort().join(", ")}); name one`,
      );
    }
  }
  throw new CheckpointError(`${folder.location}: no *.safetensors file or ${INDEX_SUFFIX} index`);
}

async function readWeightMap(folder: Folder, indexName: string): Promise<Map<string, string>> {
  const indexPath = folder.pathOf(indexName);
  let json: unknown;
  try {
    json = JSON.parse(await readText(folder, indexName));
  } catch (e) {
    throw new CheckpointError(`${indexPath}: cannot read index (${(e as Error).message})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${indexPath}: index has no "weight_map" object`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard === "" || shard.includes("/")) {
      throw new CheckpointError(`${indexPath}: weight_map entry "${name}" is not a file name`);
    }
    map.set(name, shard);
  }
  return map;
}

export class ShardedCheckpoint extends TensorTable<SafetensorsFile> implements TensorSource {
  private constructor(
    readonly path: string,
    owner: Map<string, SafetensorsFile>,
    /** Every shard, opened once, in index order. */
    readonly shards: readonly SafetensorsFile[],
  ) {
    super(owner);
  }

  /**
   * Opens `file` in `folder` (a `*.safetensors` file or a `*.safetensors.index.json` index), or
   * when no file is named, the folder's checkpoint. Every shard header is read now, so a missing
   * shard or a tensor the index lists but its shard lacks is reported here rather than halfway
   * through loading a model. Shards are opened one by one, so none has to fit one buffer.
   */
  static async open(folder: Folder, file?: string): Promise<ShardedCheckpoint> {
    const name = file ?? await findCheckpointFile(folder);
    const path = folder.pathOf(name);
    if (!name.endsWith(".json")) {
      const single = await SafetensorsFile.fromReader(await folder.open(name));
      const owner = new Map(single.names().map((tensor) => [tensor, single]));
      return new ShardedCheckpoint(path, owner, [single]);
    }
    const weightMap = await readWeightMap(folder, name);
    const shardsByName = new Map<string, SafetensorsFile>();
    try {
      const owner = new Map<string, SafetensorsFile>();
      for (const [tensor, shardName] of weightMap) {
        let shard = shardsByName.get(shardName);
        if (!shard) {
          if ((await folder.kind(shardName)) !== "file") {
            throw new CheckpointError(
              `${path}: shard "${shardName}" (holding tensor "${tensor}") is missing`,
            );
          }
          shard = await SafetensorsFile.fromReader(await folder.open(shardName));
          shardsByName.set(shardName, shard);
        }
        if (!shard.has(tensor)) {
          throw new CheckpointError(
            `${path}: tensor "${tensor}" is listed in the index but absent from shard ` +
              `"${shardName}"`,
          );
        }
        owner.set(tensor, shard);
      }
      return new ShardedCheckpoint(path, owner, [...shardsByName.values()]);
    } catch (e) {
      for (const shard of shardsByName.values()) shard.close();
      throw e;
    }
  }

  info(name: string): TensorInfo {
    return this.entry(name).info(name);
  }

  readFloat32(name: string): Promise<Float32Array> {
    return this.entry(name).readFloat32(name);
  }

  readFloat16(name: string): Promise<Float16Array> {
    return this.entry(name).readFloat16(name);
  }

  readInt(name: string): Promise<Int32Array> {
    return this.entry(name).readInt(name);
  }

  readRaw(name: string): Promise<Uint8Array> {
    return this.entry(name).readRaw(name);
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }
}
