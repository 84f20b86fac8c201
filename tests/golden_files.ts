/** Reading golden safetensors files by tensor name. */

import { join } from "node:path";
import type { SafetensorsFile } from "../src/io/safetensors.ts";
import { goldenDir } from "./helpers.ts";
import { openSafetensors } from "../deno.ts";

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
