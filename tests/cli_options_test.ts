/** The shared option checks of the CLI commands. */

import assert from "node:assert/strict";
import {
  dtypeOption,
  listOption,
  numberOption,
  requireOption,
  samplerOption,
  thresholdOption,
} from "../cli/options.ts";
import { OptionError } from "../src/errors.ts";

const optionError = (pattern: RegExp) => (e: unknown) =>
  e instanceof OptionError && pattern.test(e.message);

Deno.test("numberOption: default, parse, and errors naming the option", () => {
  assert.equal(numberOption(undefined, "steps", 20), 20);
  assert.equal(numberOption("2.5", "cfg", 4), 2.5);
  assert.throws(() => numberOption("", "cfg", 4), optionError(/--cfg must be a number, got ""/));
  assert.throws(() => numberOption("x1", "seed", 0), optionError(/--seed .*"x1"/));
});

Deno.test("requireOption and listOption", () => {
  assert.equal(requireOption("a.safetensors", "prompt"), "a.safetensors");
  assert.throws(() => requireOption(undefined, "model"), optionError(/--model is required/));
  assert.throws(() => requireOption("", "vae"), optionError(/--vae is required/));
  assert.deepEqual(listOption("a,,b,"), ["a", "b"]);
});

Deno.test("samplerOption and dtypeOption accept the known names only", () => {
  assert.equal(samplerOption("dpm-solver++"), "dpm-solver++");
  assert.throws(
    () => samplerOption("euler"),
    optionError(/--sampler must be one of ddim, dpm-solver\+\+, ddpm, got "euler"/),
  );
  assert.equal(dtypeOption("f16"), "f16");
  assert.throws(() => dtypeOption("bf16"), optionError(/--dtype must be f32 or f16, got "bf16"/));
});

Deno.test("thresholdOption: required and positive", () => {
  assert.equal(thresholdOption("0.05"), 0.05);
  assert.throws(() => thresholdOption(undefined), optionError(/--threshold is required/));
  assert.throws(() => thresholdOption("0"), optionError(/--threshold must be a positive number/));
  assert.throws(() => thresholdOption("-1"), optionError(/positive number, got -1/));
});
