/**
 * Command-line and environment set-up shared by the bench scripts: each script states its
 * options as a table of defaults, and the scripts with `--choices FILE` open the GPU alike.
 */

import { parseArgs } from "node:util";
import type { Gpu } from "../src/gpu/context.ts";
import { getGpu, loadKernelChoices, saveKernelChoices } from "../deno.ts";

/** A string option's default, `false` for a flag, or `undefined` for a string with no default. */
type OptionDefault = string | boolean | undefined;

/** What `benchArgs` returns for a table of defaults: strings stay strings, flags booleans. */
export type BenchArgs<Defaults extends Record<string, OptionDefault>> = {
  [Name in keyof Defaults]: Defaults[Name] extends boolean ? boolean
    : Defaults[Name] extends string ? string
    : string | undefined;
};

/**
 * Parses `args` (Deno.args unless given) against the options named in `defaults`, with their
 * defaults; an unknown option or a flag given a value throws, as parseArgs's strict mode does.
 */
export function benchArgs<const Defaults extends Record<string, OptionDefault>>(
  defaults: Defaults,
  args: string[] = Deno.args,
): BenchArgs<Defaults> {
  const options = Object.fromEntries(
    Object.entries(defaults).map(([name, value]) => [
      name,
      typeof value === "boolean"
        ? { type: "boolean" as const, default: value }
        // parseArgs rejects an explicit `default: undefined`: leave the key out.
        : { type: "string" as const, ...(value === undefined ? {} : { default: value }) },
    ]),
  );
  return parseArgs({ args, options }).values as BenchArgs<Defaults>;
}

/**
 * The GPU for a script with `--choices FILE`: measured kernel choices are loaded from that file
 * and saved back whenever trials add some; without one, getGpu's own set-up.
 */
export async function gpuWithKernelChoices(choicesPath: string | undefined): Promise<Gpu> {
  return await getGpu(
    choicesPath
      ? {
        kernelChoices: await loadKernelChoices(choicesPath),
        onKernelChoicesChanged: (c) => saveKernelChoices(choicesPath, c),
      }
      : {},
  );
}

/**
 * A register tile for kernel sweeps from environment variable `name`: comma-separated numbers
 * named by `fields` in order ("16,8,4"); undefined when the variable is unset or empty.
 */
export function tileFromEnvironment<Field extends string>(
  name: string,
  fields: readonly Field[],
): Record<Field, number> | undefined {
  const text = Deno.env.get(name);
  if (!text) return undefined;
  const numbers = text.split(",").map(Number);
  return Object.fromEntries(fields.map((field, i) => [field, numbers[i]])) as Record<Field, number>;
}
