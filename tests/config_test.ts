import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../src/errors.ts";
import { readJsonFile } from "../deno.ts";
import {
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalNumberArray,
  optionalString,
  requireBoolean,
  requireInteger,
  requireNumber,
  requireNumberArray,
  requireString,
} from "../src/io/config.ts";
import { goldenDir } from "./helpers.ts";
import { errorNaming } from "./asserts.ts";

const naming = (...fragments: string[]) => errorNaming(CheckpointError, ...fragments);

Deno.test("readJsonConfig reads the golden DiT config", async () => {
  const path = join(goldenDir(), "dit-tiny-random/config.json");
  const config = await readJsonFile(path);
  strictEqual(requireString(config, "_class_name", path), "DiTTransformer2DModel");
  strictEqual(requireInteger(config, "num_layers", path), 3);
  strictEqual(requireNumber(config, "norm_eps", path), 1e-5);
  strictEqual(requireBoolean(config, "attention_bias", path), true);
  strictEqual(optionalNumber(config, "no_such_key", path), undefined);
});

Deno.test("readJsonConfig names the file when it is missing, not JSON or not an object", async () => {
  const dir = await Deno.makeTempDir();
  const missing = join(dir, "missing.json");
  await rejects(readJsonFile(missing), naming(missing, "cannot read"));
  const broken = join(dir, "broken.json");
  await Deno.writeTextFile(broken, '{"a": 1,');
  await rejects(readJsonFile(broken), naming(broken, "not valid JSON"));
  const list = join(dir, "list.json");
  await Deno.writeTextFile(list, "[1, 2]");
  await rejects(readJsonFile(list), naming(list, "not a JSON object"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("field getters check types and name file, key and expected type", () => {
  const file = "model/config.json";
  const config = {
    steps: 20,
    scale: 4.5,
    name: "dit",
    flag: false,
    sizes: [1, 2.5],
    unset: null,
    text: "3",
    mixed: [1, "2"],
  };
  strictEqual(requireNumber(config, "scale", file), 4.5);
  strictEqual(optionalInteger(config, "steps", file), 20);
  strictEqual(optionalString(config, "name", file), "dit");
  strictEqual(optionalBoolean(config, "flag", file), false);
  deepStrictEqual(requireNumberArray(config, "sizes", file), [1, 2.5]);
  strictEqual(optionalNumberArray(config, "unset", file), undefined);
  strictEqual(optionalString(config, "unset", file), undefined);
  strictEqual(optionalNumber(config, "absent", file) ?? 7, 7);

  throws(() => requireNumber(config, "absent", file), naming(file, '"absent"', "missing"));
  throws(() => requireString(config, "unset", file), naming(file, '"unset"', "missing"));
  throws(() => requireNumber(config, "text", file), naming(file, '"text"', "a number"));
  throws(() => requireInteger(config, "scale", file), naming(file, '"scale"', "an integer"));
  throws(() => optionalString(config, "steps", file), naming(file, '"steps"', "a string"));
  throws(() => optionalBoolean(config, "name", file), naming(file, '"name"', "true or false"));
  throws(
    () => optionalNumberArray(config, "mixed", file),
    naming(file, '"mixed"', "a list of numbers"),
  );
});
