/** Plan files: round trip, refusal of foreign or malformed files, option errors of compress(). */

import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { compress } from "../calibrate/compress.ts";
import { CompressedSampler } from "../calibrate/compressed_sampler.ts";
import { toXDiTPlan } from "../src/compression/plan_file.ts";
import { DiTModel } from "../models/dit/model.ts";
import { OptionError, PlanError } from "../src/errors.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { loadPlan, localFolder, savePlan } from "../deno.ts";
import { ditTarget } from "../calibrate/targets/mod.ts";
import { assertRejects } from "./asserts.ts";

Deno.test("plan files round-trip, export to xDiT, and refuse what is not theirs", async () => {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  const sampler = await compress(model, { count: 2, seed: 5 }, { threshold: 0.1, steps: 4 });
  const dir = await Deno.makeTempDir();
  const path = join(dir, "sub", "plan.json");
  await savePlan(path, sampler.planFile);
  deepEqual((await Array.fromAsync(Deno.readDir(join(dir, "sub")))).map((e) => e.name), [
    "plan.json",
  ]);
  const loaded = await CompressedSampler.fromPlan(ditTarget(model), await loadPlan(path));
  deepEqual(loaded.planFile, sampler.planFile);
  const xdit = toXDiTPlan(loaded.planFile);
  equal(Object.keys(xdit).length, model.layers);
  equal(xdit.block0.step0, "FULL_ATTN");
  equal(xdit[`block${model.layers - 1}`].step3, loaded.planFile.methods[model.layers - 1][3]);

  const write = async (name: string, text: string) => {
    const p = join(dir, name);
    await Deno.writeTextFile(p, text);
    return p;
  };
  await assertRejects(
    async () => loadPlan(await write("a.json", "{not json")),
    PlanError,
    /is not JSON/,
  );
  await assertRejects(
    async () => loadPlan(await write("b.json", '{"hello": 1}')),
    PlanError,
    /not a ditfastattn plan/,
  );
  const foreign = {
    ...sampler.planFile,
    model: { ...sampler.planFile.model, configHash: "deadbeef" },
  };
  await savePlan(join(dir, "c.json"), foreign);
  await assertRejects(
    async () => CompressedSampler.fromPlan(ditTarget(model), await loadPlan(join(dir, "c.json"))),
    PlanError,
    /another model/,
  );
  const otherSize = { ...sampler.planFile, model: { ...sampler.planFile.model, tokens: 1024 } };
  await savePlan(join(dir, "e.json"), otherSize);
  await assertRejects(
    async () => CompressedSampler.fromPlan(ditTarget(model), await loadPlan(join(dir, "e.json"))),
    PlanError,
    /calibrated at 1024 tokens per attention/,
  );
  const broken = { ...sampler.planFile, methods: sampler.planFile.methods.slice(1) };
  await savePlan(join(dir, "d.json"), broken);
  await assertRejects(() => loadPlan(join(dir, "d.json")), PlanError, /layers/);
  await assertRejects(
    () => loaded.sample({ labels: [1], steps: 7 }),
    PlanError,
    /calibrated for 4 steps/,
  );
  await assertRejects(() => loadPlan(join(dir, "missing.json")), PlanError, /cannot be read/);
  model.release();
});

Deno.test("compress() rejects bad options before any GPU work", async () => {
  const model = await DiTModel.load(await testGpu(), localFolder(goldenPath("dit-tiny-random")));
  await assertRejects(
    () => compress(model, {}, { threshold: 0 }),
    OptionError,
    /threshold δ must be a positive number/,
  );
  await assertRejects(
    () => compress(model, {}, { threshold: NaN }),
    OptionError,
    /positive number/,
  );
  await assertRejects(
    () => compress(model, {}, { threshold: "0.1" as never }),
    OptionError,
    /positive number/,
  );
  await assertRejects(
    () => compress(model, { count: 0 }, { threshold: 0.1 }),
    OptionError,
    /n_calib must be an integer ≥ 1/,
  );
  await assertRejects(
    () => compress(model, { labels: [11] }, { threshold: 0.1 }),
    OptionError,
    /out of range/,
  );
  model.release();
});
