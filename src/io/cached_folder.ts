/**
 * An opt-in cache of a folder's files in the Origin Private File System (browsers): the first
 * open of a file copies it there in chunks (so no buffer holds a whole multi-gigabyte shard),
 * later opens read it back by range from disk without the network. Where OPFS is missing
 * (Deno, old browsers) or a write fails (quota), files are read from the wrapped folder as if
 * uncached, and `onFile` says so.
 */

import { CheckpointError } from "../errors.ts";
import type { ByteReader } from "./bytes.ts";
import type { Folder } from "./folder.ts";

// The File System API shapes this uses, declared here because the core compiles without the
// DOM library (Deno's types have no OPFS).
interface CacheWritable {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
interface CacheFileHandle {
  getFile(): Promise<Blob>;
  createWritable(): Promise<CacheWritable>;
}
/** A directory handle (`FileSystemDirectoryHandle`) where the cached files live. */
export interface CacheDirectory {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<CacheFileHandle>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<CacheDirectory>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

/** Where a file came from: the cache, fetched and stored now, or fetched without storing. */
export interface CacheEvent {
  location: string;
  source: "cache" | "stored" | "uncached";
  bytes: number;
  /** Why a file was not stored (no OPFS, quota, …). */
  reason?: string;
}

export interface CachedFolderOptions {
  /** Sub-directory of the origin's private file system (default "ditfastattn-cache"). */
  directoryName?: string;
  /** A directory to use instead of the origin's private file system (any FileSystemDirectoryHandle). */
  directory?: CacheDirectory;
  /** Bytes per copy step when storing (default 64 MiB). */
  chunkBytes?: number;
  onFile?: (event: CacheEvent) => void;
}

/** A folder whose files are kept in OPFS; `clear()` empties its cache directory. */
export interface CachedFolder extends Folder {
  clear(): Promise<void>;
}

const DEFAULT_DIRECTORY = "ditfastattn-cache";

/** The origin's private file system root, or null where there is none (Deno, old browsers). */
async function opfsRoot(): Promise<CacheDirectory | null> {
  const storage = (globalThis as {
    navigator?: { storage?: { getDirectory?: () => Promise<CacheDirectory> } };
  }).navigator?.storage;
  if (typeof storage?.getDirectory !== "function") return null;
  try {
    return await storage.getDirectory();
  } catch {
    return null; // e.g. an opaque origin or storage access denied
  }
}

/** A file-name-safe key for a location (SHA-256 hex; OPFS names are length-limited). */
async function keyOf(location: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(location));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function blobReader(location: string, blob: Blob): ByteReader {
  return {
    location,
    size: blob.size,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > blob.size) {
        throw new CheckpointError(
          `${location}: read of ${length} bytes at ${offset} is past the end (${blob.size} bytes)`,
        );
      }
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    close() {},
  };
}

/** Looks up a stored copy: the data file plus a marker naming its location and size. */
async function storedBlob(dir: CacheDirectory, key: string, location: string) {
  try {
    const marker = await (await dir.getFileHandle(`${key}.json`)).getFile();
    const meta = JSON.parse(await marker.text()) as { location?: string; size?: number };
    const data = await (await dir.getFileHandle(key)).getFile();
    return meta.location === location && meta.size === data.size ? data : null;
  } catch {
    return null;
  }
}

/**
 * Copies `reader` into the cache in chunks; the marker is written last, so a copy cut short
 * (tab closed, quota) is never taken for a whole file.
 */
async function store(
  dir: CacheDirectory,
  key: string,
  reader: ByteReader,
  chunkBytes: number,
): Promise<Blob> {
  await dir.removeEntry(`${key}.json`).catch(() => {});
  const writable = await (await dir.getFileHandle(key, { create: true })).createWritable();
  try {
    for (let offset = 0; offset < reader.size; offset += chunkBytes) {
      await writable.write(await reader.read(offset, Math.min(chunkBytes, reader.size - offset)));
    }
    await writable.close();
  } catch (e) {
    await writable.abort().catch(() => {});
    await dir.removeEntry(key).catch(() => {});
    throw e;
  }
  const marker = await (await dir.getFileHandle(`${key}.json`, { create: true }))
    .createWritable();
  await marker.write(
    new TextEncoder().encode(JSON.stringify({ location: reader.location, size: reader.size })),
  );
  await marker.close();
  return await (await dir.getFileHandle(key)).getFile();
}

/**
 * `folder` with its files cached in the origin private file system:
 * `cachedFolder(urlFolder("https://host/models/pixart/"))`. Sub-folders share the cache.
 */
export function cachedFolder(folder: Folder, options: CachedFolderOptions = {}): CachedFolder {
  const name = options.directoryName ?? DEFAULT_DIRECTORY;
  const openDirectory = (): Promise<CacheDirectory | null> =>
    options.directory
      ? Promise.resolve(options.directory)
      : opfsRoot().then((root) => root?.getDirectoryHandle(name, { create: true }) ?? null)
        .catch(() => null);
  const cache: CacheState = {
    directory: openDirectory(),
    async clear() {
      if (options.directory) {
        throw new Error("clear() empties only the default OPFS directory, not a given one");
      }
      const root = await opfsRoot();
      await root?.removeEntry(name, { recursive: true }).catch(() => {});
      cache.directory = openDirectory();
    },
  };
  return wrap(folder, cache, options);
}

/** Shared by a cached folder and its sub-folders. */
interface CacheState {
  directory: Promise<CacheDirectory | null>;
  clear(): Promise<void>;
}

function wrap(inner: Folder, cache: CacheState, options: CachedFolderOptions): CachedFolder {
  const chunkBytes = options.chunkBytes ?? 64 * 2 ** 20;
  const report = (event: CacheEvent) => options.onFile?.(event);
  const lookUp = async (fileName: string) => {
    const dir = await cache.directory;
    const location = inner.pathOf(fileName);
    if (!dir) return { dir, location, key: "", blob: null };
    const key = await keyOf(location);
    return { dir, location, key, blob: await storedBlob(dir, key, location) };
  };
  const self: CachedFolder = {
    location: inner.location,
    pathOf: (fileName) => inner.pathOf(fileName),
    folder: (sub) => wrap(inner.folder(sub), cache, options),
    list: () => inner.list(),
    async kind(fileName) {
      const { blob } = await lookUp(fileName);
      return blob ? "file" : await inner.kind(fileName);
    },
    async open(fileName) {
      const { dir, location, key, blob } = await lookUp(fileName);
      if (blob) {
        report({ location, source: "cache", bytes: blob.size });
        return blobReader(location, blob);
      }
      const reader = await inner.open(fileName);
      if (!dir) {
        report({ location, source: "uncached", bytes: reader.size, reason: "no OPFS here" });
        return reader;
      }
      try {
        const stored = await store(dir, key, reader, chunkBytes);
        reader.close();
        report({ location, source: "stored", bytes: stored.size });
        return blobReader(location, stored);
      } catch (e) {
        report({ location, source: "uncached", bytes: reader.size, reason: (e as Error).message });
        return reader;
      }
    },
    async read(fileName) {
      const reader = await self.open(fileName);
      try {
        return await reader.read(0, reader.size);
      } finally {
        reader.close();
      }
    },
    clear: () => cache.clear(),
  };
  return self;
}
