/** The start every command shares: its arguments parsed, or its help printed. */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/**
 * Parses `args` against the command's parseArgs `options` (which include --help); with --help,
 * prints `help` and returns null.
 */
export function commandValues<const Options extends ParseArgsOptionsConfig>(
  args: string[],
  options: Options,
  help: string,
) {
  const { values } = parseArgs({ args, options });
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return null;
  }
  return values;
}
