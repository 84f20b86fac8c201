/** The DiT forward pass and DDIM sampling against the float64 goldens. */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { Tensor } from "../src/tensor.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";
import { goldenPath, readGoldenJson, withGolden } from "./golden_files.ts";
import { localFolder, openSafetensors } from "../deno.ts";

const TINY = "dit-tiny-random";

async function loadTiny(): Promise<DiTModel> {
  return DiTModel.load(await testGpu(), localFolder(goldenPath(TINY)));
}

Deno.test("DiT forward matches the golden output (≤1e-4 rel)", async () => {
  const model = await loadTiny();
  const gpu = model.gpu;
  await withGolden(`${TINY}/forward.safetensors`, async (file) => {
    const x = await file.readFloat32("x");
    const t = await file.readInt("t");
    const y = await file.readInt("y");
    const expected = await file.readFloat32("out");
    const shape = file.info("x").shape;
    const perSample = x.length / shape[0];
    const outPerSample = expected.length / shape[0];
    // The golden batch has a different timestep per sample; our forward takes one timestep
    // per pass (as in sampling), so run each sample alone.
    for (let b = 0; b < shape[0]; b++) {
      const xs = Tensor.fromArray(gpu, x.subarray(b * perSample, (b + 1) * perSample), [
        1,
        ...shape.slice(1),
      ]);
      const ys = Tensor.fromArray(gpu, Int32Array.of(y[b]), [1], "i32");
      const out = model.forward(xs, t[b], ys);
      assertRelativeError(
        await out.toFloat32(),
        expected.subarray(b * outPerSample, (b + 1) * outPerSample),
        1e-4,
        `forward sample ${b} (t=${t[b]}, y=${y[b]})`,
      );
      for (const tensor of [xs, ys, out]) tensor.release();
    }
  });
  model.release();
});

Deno.test("DDIM with CFG matches ddim_full, and under the golden plan ddim_plan (≤1e-3 rel)", async () => {
  const model = await loadTiny();
  const manifest = await readGoldenJson("manifest.json");
  const ddim = (manifest.cases as Record<string, Record<string, unknown>>).ddim;
  const plan = ddim.plan as { window: number; methods: AttentionMethod[][] };
  await withGolden(`${TINY}/ddim.safetensors`, async (file) => {
    const noise = await file.readFloat32("noise");
    const labels = Array.from(await file.readInt("labels"));
    const common = {
      labels,
      noise,
      steps: ddim.steps as number,
      cfgScale: ddim.cfg_scale as number,
    };
    const full = await sampleDiT(model, common);
    assertRelativeError(full.samples, await file.readFloat32("ddim_full"), 1e-3, "ddim_full");
    const liveBefore = model.gpu.pool.liveBytes;
    const compressed = await sampleDiT(model, {
      ...common,
      plan: { window: plan.window, methods: plan.methods },
    });
    assertRelativeError(compressed.samples, await file.readFloat32("ddim_plan"), 1e-3, "ddim_plan");
    // Caches and intermediates are all released when sampling ends.
    if (model.gpu.pool.liveBytes !== liveBefore) {
      throw new Error(
        `leak: ${model.gpu.pool.liveBytes - liveBefore} bytes still live after sampling`,
      );
    }
  });
  model.release();
});

Deno.test("the embedded Fashion-MNIST model reproduces its float64 DDIM-20 reference", async () => {
  const gpu = await testGpu();
  const model = await DiTModel.load(
    gpu,
    localFolder(new URL("../assets/tiny-fmnist", import.meta.url).pathname),
  );
  const file = new URL("../assets/tiny-fmnist/sample_ddim20.safetensors", import.meta.url).pathname;
  const ref = await openSafetensors(file);
  const result = await sampleDiT(model, {
    labels: Array.from(await ref.readInt("labels")),
    noise: await ref.readFloat32("noise"),
    steps: 20,
    cfgScale: 4,
  });
  assertRelativeError(result.samples, await ref.readFloat32("images"), 1e-3, "tiny-fmnist DDIM-20");
  ref.close();
  model.release();
});

Deno.test("a legacy Transformer2DModel config (as DiT-XL/2 ships) loads the same model", async () => {
  const dir = await Deno.makeTempDir();
  const config = JSON.parse(await Deno.readTextFile(goldenPath(TINY, "config.json")));
  // The fields diffusers' Transformer2DModel config carries for DiT checkpoints.
  Object.assign(config, {
    _class_name: "Transformer2DModel",
    cross_attention_dim: null,
    num_vector_embeds: null,
    only_cross_attention: false,
    double_self_attention: false,
    use_linear_projection: false,
  });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await Deno.copyFile(
    goldenPath(TINY, "diffusion_pytorch_model.safetensors"),
    `${dir}/diffusion_pytorch_model.safetensors`,
  );
  const legacy = await DiTModel.load(await testGpu(), localFolder(dir));
  const current = await loadTiny();
  const x = Tensor.fromArray(legacy.gpu, new Float32Array(4 * 16 * 16).map((_, i) => Math.sin(i)), [
    1,
    4,
    16,
    16,
  ]);
  const y = Tensor.fromArray(legacy.gpu, Int32Array.of(4), [1], "i32");
  const a = legacy.forward(x, 500, y), b = current.forward(x, 500, y);
  assertRelativeError(await a.toFloat32(), await b.toFloat32(), 0, "legacy vs current config");
  for (const t of [x, y, a, b]) t.release();
  legacy.release();
  current.release();
});
