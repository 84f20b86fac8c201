/**
 * Measured kernel choices on disk (see src/gpu/kernel_choice.ts): a JSON file a process loads so
 * it skips the trials earlier runs on this machine already made.
 */

import { dirname } from "node:path";
import { OptionError } from "../src/errors.ts";
import { KernelChoices } from "../src/gpu/kernel_choice.ts";
import { writeFileAtomic } from "./files.ts";

/** Reads a kernel-choices file; a missing file gives an empty store (nothing measured yet). */
export async function loadKernelChoices(path: string): Promise<KernelChoices> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new KernelChoices();
    throw new OptionError(`kernel choices ${path}: cannot read (${(e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new OptionError(`kernel choices ${path}: not JSON (${(e as Error).message})`);
  }
  return KernelChoices.fromJson(value, `kernel choices ${path}`);
}

/** Writes `choices` to `path` atomically (creating its folder). */
export async function saveKernelChoices(path: string, choices: KernelChoices): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const text = JSON.stringify(choices.toJson(), null, 1) + "\n";
  await writeFileAtomic(path, (write) => write(new TextEncoder().encode(text)));
}
