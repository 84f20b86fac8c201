/**
 * Bad input, options and plans (issue 17, cases 3, 4, 5, 13, 14) and the CLI's one-line
 * errors. Every check here runs before a GPU is asked for, so none of these tests needs one.
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { describeFailure } from "../cli/main.ts";
import { generateCommand } from "../cli/generate.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { videoCommand } from "../cli/video.ts";
import { cfgOption, colsOption, seedOption } from "../cli/options.ts";
import { checkPlanFits, checkPlanValue, type PlanFile } from "../src/compression/plan_file.ts";
import {
  DatasetError,
  isLibraryError,
  NumericsError,
  OptionError,
  PlanError,
} from "../src/errors.ts";
import { DatasetError as EvalDatasetError } from "../eval/fashion_mnist.ts";
import { batchNoise, gaussianNoise } from "../src/sampling/prng.ts";
import { guidanceWgsl } from "../shaders/sampler.ts";
import { f32Literal } from "../shaders/common.ts";
import { loadPlan } from "../deno.ts";

const option = (pattern: RegExp) => (e: unknown) => {
  ok(e instanceof OptionError, `expected OptionError, got ${e}`);
  ok(pattern.test(e.message), `"${e.message}" should match ${pattern}`);
  return true;
};

const planError = (pattern: RegExp) => (e: unknown) => {
  ok(e instanceof PlanError, `expected PlanError, got ${e}`);
  ok(pattern.test(e.message), `"${e.message}" should match ${pattern}`);
  ok(!/undefined|NaN|\[object/.test(e.message), `"${e.message}" shows an unset value`);
  return true;
};

/** A complete, valid DiT plan value written by hand (2 layers, 4 steps, 16 tokens). */
function handPlan(): PlanFile {
  return {
    format: "ditfastattn-plan",
    version: 1,
    model: { family: "dit", configHash: "0badc0de", layers: 2, tokens: 16 },
    steps: 4,
    sampler: "ddim",
    cfgScale: 4,
    window: 2,
    threshold: 0.1,
    nCalib: 2,
    seed: 0,
    candidates: ["OUTPUT_SHARE", "RESIDUAL_WINDOW_ATTN"],
    methods: [
      ["FULL_ATTN", "RESIDUAL_WINDOW_ATTN", "OUTPUT_SHARE", "FULL_ATTN"],
      ["FULL_ATTN", "FULL_ATTN", "FULL_ATTN", "FULL_ATTN"],
    ],
    attentionMacsFraction: 0.8,
    calibrationSeconds: 1.5,
    createdAt: "2026-01-01T00:00:00.000Z",
  };
}

async function planFile(plan: unknown): Promise<string> {
  const path = join(await Deno.makeTempDir(), "plan.json");
  await Deno.writeTextFile(path, JSON.stringify(plan));
  return path;
}

/** A model path that cannot load: reaching it would be a CheckpointError, not the expected one. */
const NO_MODEL = "/nonexistent/model";

Deno.test("case 3: with --plan, --cfg, --sampler and --steps that contradict it are refused alike", async () => {
  const path = await planFile(handPlan());
  for (
    const [flag, value, shown] of [
      ["--cfg", "7", /cfg 7 \(plan: 4\)/],
      ["--sampler", "dpm-solver++", /sampler dpm-solver\+\+ \(plan: ddim\)/],
      ["--steps", "5", /steps 5 \(plan: 4\)/],
    ] as const
  ) {
    await rejects(
      generateCommand(["--model", NO_MODEL, "--plan", path, flag, value]),
      option(shown),
    );
    const common = ["--model", NO_MODEL, "--vae", NO_MODEL, "--prompt", "p.safetensors"];
    await rejects(pixartCommand([...common, "--plan", path, flag, value]), option(shown));
    await rejects(videoCommand([...common, "--plan", path, flag, value]), option(shown));
  }
});

Deno.test("case 4: seeds are integers 0 … 2^32 − 1, refused otherwise, never wrapped", async () => {
  equal(seedOption(undefined), 0);
  equal(seedOption("4294967295"), 4294967295);
  throws(
    () => seedOption("0.5"),
    option(/--seed must be an integer from 0 to 4294967295, got 0\.5/),
  );
  throws(() => seedOption("4294967296"), option(/4294967296/));
  throws(() => seedOption("-1"), option(/-1/));
  // The library refuses too, as an OptionError (it was a RangeError, and 2^32 wrapped to 0).
  throws(() => gaussianNoise(0.5, 0, 4), option(/seed must be an integer/));
  throws(() => batchNoise(2 ** 32, 1, 4), option(/4294967296/));
  await rejects(generateCommand(["--model", NO_MODEL, "--seed", "4294967296"]), option(/--seed/));
  // Seeds that differ in the top bit give different noise (no 31-bit folding).
  ok(gaussianNoise(1, 0, 4).some((v, i) => v !== gaussianNoise(2 ** 31 + 1, 0, 4)[i]));
});

Deno.test("case 5: guidance scales outside 0 … 1000 are refused before any kernel is built", async () => {
  equal(cfgOption("7.5"), 7.5);
  equal(cfgOption(undefined), undefined);
  for (const value of ["1e39", "3.5e38", "-1", "1001", "Infinity"]) {
    throws(() => cfgOption(value), option(/--cfg must be a number/));
  }
  await rejects(generateCommand(["--model", NO_MODEL, "--cfg", "3.5e38"]), option(/--cfg/));
  await rejects(
    loadPlan(await planFile({ ...handPlan(), cfgScale: 1e308 })),
    planError(/"cfgScale" must be a number from 0 to 1000, got 1e\+308/),
  );
  // The kernel text itself never takes a number float32 cannot hold.
  throws(() => f32Literal(3.5e38), /outside the float32 range/);
  const shape = { half: 1, outChannels: 4, epsChannels: 4, guidedChannels: 4, plane: 16 };
  throws(() => guidanceWgsl(shape, 1e39, 64), /outside the float32 range/);
  ok(guidanceWgsl(shape, 4, 64).includes("4.0 *"));
});

Deno.test("case 13: --cols 0 and --cols 1e9 are refused before anything is loaded", async () => {
  throws(() => colsOption("0", 4), option(/--cols must be an integer from 1 to 4/));
  throws(() => colsOption("1e9", 4), option(/got 1e9/));
  throws(() => colsOption("2.5"), option(/positive integer/));
  equal(colsOption("4", 4), 4);
  await rejects(generateCommand(["--model", NO_MODEL, "--cols", "0"]), option(/--cols/));
  const common = ["--model", NO_MODEL, "--vae", NO_MODEL, "--prompt", "a.safetensors"];
  await rejects(pixartCommand([...common, "--cols", "1e9"]), option(/from 1 to 1/));
});

Deno.test("case 14: every field of a plan file is checked on load, naming the field", async () => {
  deepEqual(checkPlanValue(handPlan()), handPlan());
  const model = handPlan().model;
  const cases: [string, unknown, RegExp][] = [
    [
      "no model.tokens",
      { ...handPlan(), model: { ...model, tokens: undefined } },
      /"model\.tokens".*missing/,
    ],
    [
      "a wrong family",
      { ...handPlan(), model: { ...model, family: "unet" } },
      /"model\.family" must be one of dit, pixart, stdit2, got "unet"/,
    ],
    ["window 10^9", { ...handPlan(), window: 1e9 }, /"window" must be an integer from 0 to 16/],
    ["a fractional step count", { ...handPlan(), steps: 2.5 }, /"steps" must be an integer/],
    ["zero steps", { ...handPlan(), steps: 0 }, /"steps"/],
    ["an unknown sampler", { ...handPlan(), sampler: "euler" }, /"sampler" must be one of ddim/],
    ["a negative seed", { ...handPlan(), seed: -1 }, /"seed"/],
    ["an unknown candidate", { ...handPlan(), candidates: ["FAST"] }, /"candidates"/],
    [
      "no creation time",
      { ...handPlan(), createdAt: undefined },
      /"createdAt" must be a string, got missing/,
    ],
    ["a short method table", { ...handPlan(), methods: [["FULL_ATTN"]] }, /layers|steps/],
    ["an unknown method", {
      ...handPlan(),
      methods: [["FULL_ATTN", "X", "FULL_ATTN", "FULL_ATTN"], handPlan().methods[1]],
    }, /unknown method "X"/],
    ["layers 10^6", { ...handPlan(), model: { ...model, layers: 1e6 } }, /"model\.layers"/],
  ];
  for (const [what, value, pattern] of cases) {
    await rejects(loadPlan(await planFile(value)), planError(pattern), what);
  }
});

Deno.test("case 14: a plan used at another resolution says so, not 'another model'", () => {
  const plan = handPlan();
  throws(
    () => checkPlanFits(plan, { family: "dit", configHash: "12345678", layers: 2, tokens: 64 }, 4),
    planError(/calibrated at 16 tokens per attention, sampling has 64 \(another resolution\)/),
  );
  throws(
    () => checkPlanFits(plan, { family: "pixart", configHash: "0badc0de", layers: 2 }, 4),
    planError(/for a dit model, not pixart/),
  );
});

Deno.test("the CLI prints Name: message for library errors, one line for others, stacks on --debug", () => {
  ok(isLibraryError(new DatasetError("x")), "DatasetError is one of the library's families");
  ok(isLibraryError(new NumericsError("x")));
  ok(new EvalDatasetError("x") instanceof DatasetError, "eval/ uses the library's class");
  equal(
    describeFailure(new OptionError("--cfg must be ..."), false),
    "OptionError: --cfg must be ...",
  );
  equal(describeFailure(new DatasetError("missing"), false), "DatasetError: missing");
  const unknown = describeFailure(new TypeError("boom\n    at somewhere (file.ts:1:1)"), false);
  ok(!unknown.includes("\n") && unknown.startsWith("TypeError: boom"), unknown);
  ok(unknown.includes("--debug") && unknown.includes("DITFASTATTN_DEBUG=1"), unknown);
  equal(describeFailure("a string", false).split("\n").length, 1);
  const parse = Object.assign(new TypeError("Unknown option '--x'.\nTo specify ..."), {
    code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
  });
  equal(describeFailure(parse, false), "OptionError: Unknown option '--x'. To specify ...");
  ok(/\n\s+at /.test(describeFailure(new OptionError("with stack"), true)), "stack with --debug");
});

Deno.test("the CLI process: one line on stderr, exit code 1, no stack trace", async () => {
  const main = new URL("../cli/main.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-webgpu", main, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr).trim() };
  };
  const plain = await run("generate", "--seed", "0.5");
  equal(plain.code, 1);
  equal(plain.stderr, "OptionError: --seed must be an integer from 0 to 4294967295, got 0.5");
  const debug = await run("generate", "--seed", "0.5", "--debug");
  equal(debug.code, 1);
  ok(/^OptionError: --seed[^\n]*\n\s+at /.test(debug.stderr), debug.stderr);
});
