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

/** Why `path` cannot be replaced by a file: a folder, a device, a pipe... (null when it can). */
async function notReplaceable(path: string): Promise<string | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return null; // absent (or unreadable, which the write itself will report)
  }
  if (info.isDirectory) return "is a folder, not a file";
  if (!info.isFile) {
    return "is not a regular file (a device, pipe or socket); outputs are written as new files";
  }
  return null;
}

/**
 * Makes `folder` (and its parents) exist and checks a file can be created in it, with a probe
 * file that is removed again. Errors are one line naming `what`.
 */
async function checkWritableFolder(folder: string, what: string): Promise<void> {
  let info: Deno.FileInfo | null = null;
  try {
    info = await Deno.stat(folder);
  } catch {
    // Missing: created below, as the write would.
  }
  if (info && !info.isDirectory) {
    throw new OutputError(`${what}: ${folder} is a file, not a folder`);
  }
  if (!info) {
    try {
      await Deno.mkdir(folder, { recursive: true });
    } catch (e) {
      // Name the culprit when a file sits where a folder on the way should be.
      for (let above = dirname(folder); above !== dirname(above); above = dirname(above)) {
        const kind = await Deno.stat(above).then((i) => i.isDirectory, () => null);
        if (kind === false) throw new OutputError(`${what}: ${above} is a file, not a folder`);
        if (kind === true) break;
      }
      throw new OutputError(
        `${what}: cannot create the folder ${folder} (${(e as Error).message})`,
      );
    }
  }
  const probe = join(folder, `.ditfastattn-probe.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
  } catch (e) {
    throw new OutputError(`${what}: cannot write in ${folder} (${(e as Error).message})`);
  }
  await Deno.remove(probe).catch(() => undefined);
}

/**
 * Checks, before any long work, that an output file can be written at `path`: the path is not
 * empty, not a folder or a device, and its folder exists (missing folders are created, as the
 * write would) and takes new files. The write itself still goes through `writeFileAtomic`.
 */
export async function checkOutputPath(path: string): Promise<void> {
  if (path.trim() === "") throw new OutputError("the output path is empty");
  if (/[\\/]$/.test(path)) throw new OutputError(`${path}: names a folder, not a file`);
  const why = await notReplaceable(path);
  if (why) throw new OutputError(`${path}: ${why}`);
  await checkWritableFolder(dirname(path) || ".", path);
}

/** The same for an output folder (a report's): it is created when missing and must take files. */
export async function checkOutputFolder(path: string): Promise<void> {
  if (path.trim() === "") throw new OutputError("the output folder is empty");
  await checkWritableFolder(path, path);
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
  const refused = path.trim() === "" ? "the path is empty" : await notReplaceable(path);
  // A rename would replace a device node (as root, /dev/full) rather than write into it.
  if (refused) throw new OutputError(`${path || "output"}: cannot write (${refused})`);
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
