/** Golden files: paths, reading golden safetensors by tensor name, the tiny model folders. */

import { join } from "node:path";
import type { SafetensorsFile } from "../src/io/safetensors.ts";
import { goldenDir } from "./helpers.ts";
import type { Folder } from "../src/io/folder.ts";
import { localFolder, openSafetensors } from "../deno.ts";

export function goldenPath(...parts: string[]): string {
  return join(goldenDir(), ...parts);
}

/** Opens a golden file, runs `use`, and closes it. */
export async function withGolden<T>(
  relativePath: string,
  use: (file: SafetensorsFile) => Promise<T>,
): Promise<T> {
  const file = await openSafetensors(goldenPath(relativePath));
  try {
    return await use(file);
  } finally {
    file.close();
  }
}

export async function readGoldenJson(relativePath: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(goldenPath(relativePath)));
}

/** The tiny random DiT transformer and VAE golden folders (what DiTPipeline.fromFolders takes). */
export function tinyDiTFolders(): { transformer: Folder; vae: Folder } {
  return {
    transformer: localFolder(goldenPath("dit-tiny-random")),
    vae: localFolder(goldenPath("vae-tiny-random")),
  };
}

/** The same two folders as `pipeline` command options. */
export function tinyDiTFolderArgs(): string[] {
  return ["--transformer", goldenPath("dit-tiny-random"), "--vae", goldenPath("vae-tiny-random")];
}
