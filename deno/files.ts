/**
 * Files on disk for the core's byte-level API: a `Folder` over a directory, a `ByteReader`
 * over a file, and atomic writes (a temporary file in the same folder, then a rename, so a
 * failed or interrupted write never leaves half a file under the final name).
 */

import { basename, dirname, join } from "node:path";
import { CheckpointError, isLibraryError, OutputError } from "../src/errors.ts";
import type { ByteReader } from "../src/io/bytes.ts";
import type { Folder } from "../src/io/folder.ts";
import { SafetensorsFile } from "../src/io/safetensors.ts";
import { ShardedCheckpoint } from "../src/io/sharded_checkpoint.ts";

/** Reads exactly `target.length` bytes; `read` may return fewer at a time. */
async function readFully(file: Deno.FsFile, target: Uint8Array, what: string): Promise<void> {
  let filled = 0;
  while (filled < target.length) {
    const n = await file.read(target.subarray(filled));
    if (n === null) throw new CheckpointError(`${what}: file ended early`);
    filled += n;
  }
}

/** Random access to a file; seek + read is two calls, so reads are queued, never interleaved. */
export async function openFileReader(path: string): Promise<ByteReader> {
  let file: Deno.FsFile;
  let size: number;
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) throw new Error("is a folder, not a file");
    file = await Deno.open(path, { read: true });
    size = (await file.stat()).size;
  } catch (e) {
    throw new CheckpointError(`${path}: cannot open (${(e as Error).message})`);
  }
  let queue: Promise<unknown> = Promise.resolve();
  let open = true;
  return {
    location: path,
    size,
    read(offset: number, length: number): Promise<Uint8Array> {
      const read = queue.then(async () => {
        if (!open) throw new CheckpointError(`${path}: read after close()`);
        if (offset + length > size) {
          throw new CheckpointError(`${path}: read past the end (file ended early)`);
        }
        const bytes = new Uint8Array(length);
        await file.seek(offset, Deno.SeekMode.Start);
        await readFully(file, bytes, path);
        return bytes;
      });
      queue = read.catch(() => undefined);
      return read;
    },
    close() {
      if (open) file.close();
      open = false;
    },
  };
}

async function kindOf(path: string): Promise<"file" | "folder" | null> {
  try {
    const info = await Deno.stat(path);
    return info.isDirectory ? "folder" : "file";
  } catch {
    return null;
  }
}

/** A folder on disk as the core's `Folder`. */
export function localFolder(path: string): Folder {
  const pathOf = (name: string) => join(path, name);
  return {
    location: path,
    pathOf,
    folder: (name) => localFolder(pathOf(name)),
    kind: (name) => kindOf(pathOf(name)),
    async read(name) {
      try {
        return await Deno.readFile(pathOf(name));
      } catch (e) {
        throw new CheckpointError(`${pathOf(name)}: cannot read (${(e as Error).message})`);
      }
    },
    open: (name) => openFileReader(pathOf(name)),
    async list() {
      const names: string[] = [];
      try {
        for await (const entry of Deno.readDir(path)) if (entry.isFile) names.push(entry.name);
      } catch (e) {
        throw new CheckpointError(`${path}: cannot list (${(e as Error).message})`);
      }
      return names.sort();
    },
  };
}

/** Opens one safetensors file, reading only its header. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.fromReader(await openFileReader(path));
}

/**
 * Opens a checkpoint: a `*.safetensors` file, a `*.safetensors.index.json` index, or a folder
 * holding one of them.
 */
export async function openCheckpoint(path: string): Promise<ShardedCheckpoint> {
  const kind = await kindOf(path);
  if (kind === null) throw new CheckpointError(`${path}: cannot open (no such file or folder)`);
  if (kind === "folder") return ShardedCheckpoint.open(localFolder(path));
  return ShardedCheckpoint.open(localFolder(dirname(path)), basename(path));
}

/**
 * Writes a file atomically: the pieces go to a temporary file beside `path`, which is renamed
 * over `path` only when every piece is written. On failure the temporary file is removed, any
 * earlier file at `path` is untouched, and the error is one line naming `path`.
 */
export async function writeFileAtomic(
  path: string,
  produce: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(temporary, { write: true, createNew: true });
    const handle = file;
    await produce(async (bytes) => {
      let written = 0;
      while (written < bytes.length) written += await handle.write(bytes.subarray(written));
    });
    file.close();
    file = null;
    await Deno.rename(temporary, path);
  } catch (e) {
    try {
      file?.close();
    } catch {
      // Already closed by the failure.
    }
    await Deno.remove(temporary).catch(() => undefined);
    if (isLibraryError(e)) throw e;
    throw new OutputError(`${path}: cannot write (${(e as Error).message})`);
  }
}
