/**
 * Command-line entry point: `generate`, `pipeline`, `pixart`, `pixart-calibrate`, `video`,
 * `video-calibrate`, `calibrate`, `demo`.
 */

import { isLibraryError } from "../src/errors.ts";
import { calibrateCommand } from "./calibrate.ts";
import { demoCommand } from "./demo.ts";
import { generateCommand } from "./generate.ts";
import { pipelineCommand } from "./pipeline.ts";
import { pixartCommand } from "./pixart.ts";
import { pixartCalibrateCommand } from "./pixart_calibrate.ts";
import { videoCommand } from "./video.ts";
import { videoCalibrateCommand } from "./video_calibrate.ts";

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  generate: generateCommand,
  pipeline: pipelineCommand,
  pixart: pixartCommand,
  "pixart-calibrate": pixartCalibrateCommand,
  video: videoCommand,
  "video-calibrate": videoCalibrateCommand,
  calibrate: calibrateCommand,
  demo: demoCommand,
};

/** `--debug` anywhere on the line, or DITFASTATTN_DEBUG=1, also prints stack traces. */
function debugRequested(args: string[]): boolean {
  return args.includes("--debug") || Deno.env.get("DITFASTATTN_DEBUG") === "1";
}

/**
 * How a failed command is reported: library errors (and bad arguments) as `Name: message`, any
 * other error as one line with a hint, and the stack trace only when debugging.
 */
export function describeFailure(e: unknown, debug: boolean): string {
  const ours = isLibraryError(e);
  const error = e instanceof Error ? e : new Error(String(e));
  const badArguments = String((error as { code?: string }).code ?? "").startsWith(
    "ERR_PARSE_ARGS",
  );
  if (debug) return error.stack ?? `${error.name}: ${error.message}`;
  if (ours) return `${error.name}: ${error.message}`;
  // node:util's parseArgs explains itself over several lines; one line is enough.
  if (badArguments) return `OptionError: ${error.message.replace(/\s*\n\s*/g, " ")}`;
  // Not one of ours: still one line, the first of the message.
  const first = error.message.split("\n")[0];
  return `${error.name}: ${first} (rerun with --debug or DITFASTATTN_DEBUG=1 for the stack trace)`;
}

async function main(): Promise<void> {
  const debug = debugRequested(Deno.args);
  const [command, ...rest] = Deno.args.filter((arg) => arg !== "--debug");
  const run = COMMANDS[command];
  if (!run) {
    console.error(
      `usage: deno run -A --unstable-webgpu cli/main.ts <${
        Object.keys(COMMANDS).join("|")
      }> [options] [--debug] (--help for each)`,
    );
    Deno.exit(2);
  }
  // A rejection nobody awaited would otherwise print Deno's raw report and stack.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error(describeFailure(event.reason, debug));
    Deno.exit(1);
  });
  try {
    await run(rest);
  } catch (e) {
    console.error(describeFailure(e, debug));
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
