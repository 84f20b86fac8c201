/**
 * A model folder, wherever it is: on disk (the Deno entry's `localFolder`), at a URL
 * (`urlFolder`, for pages), or in memory (`memoryFolder`). Every loader reads through this, so
 * the core needs no file system.
 */

import { CheckpointError } from "../errors.ts";
import { type ByteReader, ChunkedBytes, openUrl } from "./bytes.ts";

export interface Folder {
  /** A path or URL, for messages. */
  readonly location: string;
  /** A sub-folder (no I/O). */
  folder(name: string): Folder;
  /** What `name` is, or null when absent. */
  kind(name: string): Promise<"file" | "folder" | null>;
  /** The whole file; a CheckpointError naming it when absent or unreadable. */
  read(name: string): Promise<Uint8Array>;
  /** Random access to a (possibly large) file. */
  open(name: string): Promise<ByteReader>;
  /** File names in the folder, or null where a folder cannot be listed (HTTP). */
  list(): Promise<string[] | null>;
  /** `location` joined with `name`, for messages. */
  pathOf(name: string): string;
}

/** The file as UTF-8 text. */
export async function readText(folder: Folder, name: string): Promise<string> {
  const bytes = await folder.read(name);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CheckpointError(`${folder.pathOf(name)}: not valid UTF-8 text`);
  }
}

function joinLocation(base: string, name: string): string {
  if (base === "" || base === ".") return name;
  return base.endsWith("/") ? base + name : `${base}/${name}`;
}

/** Files held in memory, keyed by relative path ("vae/config.json"). */
export function memoryFolder(
  files: Readonly<Record<string, Uint8Array | string>>,
  location = "memory",
  prefix = "",
): Folder {
  const bytesOf = (name: string): Uint8Array | undefined => {
    const value = files[prefix + name];
    return typeof value === "string" ? new TextEncoder().encode(value) : value;
  };
  const self: Folder = {
    location,
    pathOf: (name) => joinLocation(location, name),
    folder: (name) => memoryFolder(files, joinLocation(location, name), `${prefix}${name}/`),
    kind(name) {
      if (Object.hasOwn(files, prefix + name)) return Promise.resolve("file");
      const inside = `${prefix}${name}/`;
      return Promise.resolve(
        Object.keys(files).some((k) => k.startsWith(inside)) ? "folder" : null,
      );
    },
    read(name) {
      const bytes = bytesOf(name);
      if (!bytes) return Promise.reject(new CheckpointError(`${self.pathOf(name)}: not found`));
      return Promise.resolve(bytes.slice());
    },
    async open(name) {
      return new ChunkedBytes(self.pathOf(name), [await self.read(name)]);
    },
    list() {
      const names = Object.keys(files).filter((k) =>
        k.startsWith(prefix) && !k.slice(prefix.length).includes("/")
      );
      return Promise.resolve(names.map((k) => k.slice(prefix.length)).sort());
    },
  };
  return self;
}

/**
 * A folder served over HTTP(S): `urlFolder("https://host/models/tiny-fmnist/")`. Large files are
 * read with range requests when the server honours them; folders cannot be listed, so a
 * checkpoint is found by its usual names.
 */
export function urlFolder(base: string | URL, fetchFn: typeof fetch = fetch): Folder {
  const root = String(base).endsWith("/") ? String(base) : `${base}/`;
  const urlOf = (name: string) => new URL(name, root).href;
  return {
    location: root,
    pathOf: urlOf,
    folder: (name) => urlFolder(urlOf(name.endsWith("/") ? name : `${name}/`), fetchFn),
    async kind(name) {
      try {
        const response = await fetchFn(urlOf(name), { method: "HEAD" });
        return response.ok ? "file" : null;
      } catch {
        return null;
      }
    },
    async read(name) {
      let response: Response;
      try {
        response = await fetchFn(urlOf(name));
      } catch (e) {
        throw new CheckpointError(`${urlOf(name)}: cannot fetch (${(e as Error).message})`);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new CheckpointError(
          `${urlOf(name)}: ${response.status === 404 ? "not found" : "HTTP " + response.status}`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
    open: (name) => openUrl(urlOf(name), fetchFn),
    list: () => Promise.resolve(null),
  };
}
