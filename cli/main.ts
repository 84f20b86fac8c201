/**
 * Command-line entry point: `generate`, `pipeline`, `pixart`, `pixart-calibrate`, `video`,
 * `video-calibrate`, `calibrate`, `demo`.
 */

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

async function main(): Promise<void> {
  const [command, ...rest] = Deno.args;
  const run = COMMANDS[command];
  if (!run) {
    console.error(
      `usage: deno run -A --unstable-webgpu cli/main.ts <${
        Object.keys(COMMANDS).join("|")
      }> [options] (--help for each)`,
    );
    Deno.exit(2);
  }
  try {
    await run(rest);
  } catch (e) {
    // Errors of our own families carry the full explanation; no stack trace needed.
    const error = e as Error;
    const ours = ["CheckpointError", "DeviceError", "ShapeError", "PlanError", "OptionError"];
    const badArguments = String((error as { code?: string }).code ?? "").startsWith(
      "ERR_PARSE_ARGS",
    );
    console.error(
      ours.includes(error.name) || badArguments ? `${error.name}: ${error.message}` : error,
    );
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
