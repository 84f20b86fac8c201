/**
 * Measured kernel choice: one trial per adapter + kernel + shape class, run at the next sync;
 * choices saved as JSON and reloaded without trials; forced variants agree numerically.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { loadKernelChoices, saveKernelChoices } from "../deno.ts";
import { OptionError } from "../src/errors.ts";
import { Gpu, type GpuOptions } from "../src/gpu/context.ts";
import {
  KernelChoices,
  KernelChooser,
  type KernelTrial,
  type TrialHost,
} from "../src/gpu/kernel_choice.ts";
import { fullAttention, fullAttentionWithResidual } from "../src/ops/attention.ts";
import { linear, type LinearVariant } from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { referenceAttention } from "./attention_reference.ts";
import { assertRelativeError, randomArray } from "./helpers.ts";
import { ATTENTION_KERNELS } from "./kernel_helpers.ts";

async function withGpu(options: GpuOptions, body: (gpu: Gpu) => Promise<void>): Promise<void> {
  const gpu = await Gpu.create(options);
  try {
    await body(gpu);
  } finally {
    gpu.destroy();
  }
}

function launches(gpu: Gpu, name: string): number {
  return gpu.kernels.launches.get(name) ?? 0;
}

/** Runs y = x·Wᵀ for an [m, k]·[k, n] product and releases everything. */
async function runLinear(gpu: Gpu, m: number, k: number, n: number): Promise<void> {
  const x = Tensor.fromArray(gpu, randomArray(m * k, 1), [m, k]);
  const w = Tensor.fromArray(gpu, randomArray(n * k, 2), [n, k]);
  const y = linear(x, w);
  await y.toFloat32();
  for (const t of [x, w, y]) t.release();
}

Deno.test("kernel choice: one trial per shape class, run at sync, then the winner is used", async () => {
  await withGpu({}, async (gpu) => {
    await runLinear(gpu, 100, 40, 24);
    await runLinear(gpu, 120, 36, 30); // same class: m128 n32 k64
    strictEqual(gpu.kernels.pendingTrials, 1, "one queued trial for the class");
    strictEqual(gpu.kernels.trialsRun, 0, "no trial before sync");
    await gpu.sync();
    strictEqual(gpu.kernels.trialsRun, 1);
    strictEqual(gpu.kernels.pendingTrials, 0);
    const json = gpu.kernels.choices.toJson();
    const entries = Object.values(json.adapters)[0];
    const entry = entries["linear f32 m128 n32 k64"];
    ok(entry, `entry for the class, got ${Object.keys(entries)}`);
    deepStrictEqual(Object.keys(entry.millis).sort(), ["direct", "gemm", "tiled"]);
    for (const ms of Object.values(entry.millis)) ok(ms > 0 && Number.isFinite(ms));
    // Later calls of the class use the winner and queue nothing.
    const before = launches(gpu, `linear/${entry.variant}`);
    await runLinear(gpu, 128, 64, 17);
    await gpu.sync();
    strictEqual(gpu.kernels.trialsRun, 1, "no second trial for the class");
    strictEqual(launches(gpu, `linear/${entry.variant}`), before + 1);
    // Another class gets its own trial.
    await runLinear(gpu, 3, 40, 24);
    await gpu.sync();
    strictEqual(gpu.kernels.trialsRun, 2);
  });
});

Deno.test("kernel choice: saved as JSON and reloaded, later runs make no trials", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.remove(path);
  try {
    strictEqual((await loadKernelChoices(path)).size, 0, "a missing file is an empty store");
    let chosen = "";
    await withGpu({}, async (gpu) => {
      await runLinear(gpu, 50, 20, 10);
      await gpu.sync();
      strictEqual(gpu.kernels.trialsRun, 1);
      await saveKernelChoices(path, gpu.kernels.choices);
      chosen = Object.values(gpu.kernels.choices.toJson().adapters)[0]["linear f32 m64 n16 k32"]
        .variant;
    });
    const loaded = await loadKernelChoices(path);
    strictEqual(loaded.size, 1);
    // The JSON value round-trips (what a page keeps in localStorage).
    const again = KernelChoices.fromJson(JSON.parse(JSON.stringify(loaded.toJson())));
    deepStrictEqual(again.toJson(), loaded.toJson());
    await withGpu({ kernelChoices: loaded }, async (gpu) => {
      await runLinear(gpu, 60, 30, 12);
      await gpu.sync();
      strictEqual(gpu.kernels.trialsRun, 0, "no trial after reload");
      strictEqual(launches(gpu, `linear/${chosen}`), 1, `the saved choice (${chosen}) ran`);
    });
  } finally {
    await Deno.remove(path).catch(() => undefined);
  }
});

Deno.test("kernel choice: kernelTrials false keeps the fixed defaults and measures nothing", async () => {
  await withGpu({ kernelTrials: false }, async (gpu) => {
    await runLinear(gpu, 50, 20, 10);
    await gpu.sync();
    strictEqual(gpu.kernels.trialsRun, 0);
    strictEqual(gpu.kernels.choices.size, 0);
    const fixed = gpu.cpuKernels ? "tiled" : "gemm";
    strictEqual(launches(gpu, `linear/${fixed}`), 1);
  });
});

Deno.test("kernel choice: forced variants run and agree with each other and the reference", async () => {
  const [m, k, n] = [77, 130, 67];
  const x = randomArray(m * k, 3);
  const w = randomArray(n * k, 4, 1 / Math.sqrt(k));
  const expected = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let t = 0; t < k; t++) sum += x[i * k + t] * w[j * k + t];
      expected[i * n + j] = sum;
    }
  }
  const outputs: Float32Array[] = [];
  for (const variant of ["tiled", "direct", "gemm"] as LinearVariant[]) {
    await withGpu({ forceVariants: { linear: variant } }, async (gpu) => {
      const tx = Tensor.fromArray(gpu, x, [m, k]);
      const tw = Tensor.fromArray(gpu, w, [n, k]);
      const y = linear(tx, tw);
      const out = await y.toFloat32();
      await gpu.sync();
      strictEqual(launches(gpu, `linear/${variant}`), 1, `${variant} ran`);
      strictEqual(gpu.kernels.trialsRun, 0, "a forced variant needs no trial");
      assertRelativeError(out, expected, 3e-6, `linear ${variant}`);
      outputs.push(out);
    });
  }
  // Every variant sums the k terms in order with one fma each: the choice never changes a bit.
  ok(outputs[1].every((v, i) => v === outputs[0][i]), "direct and tiled identical");
  ok(outputs[2].every((v, i) => v === outputs[0][i]), "gemm and tiled identical");

  const [batch, heads, tokens, headDim, window] = [2, 2, 70, 72, 9];
  const qkv = randomArray(batch * tokens * 3 * heads * headDim, 5);
  const fullRef = referenceAttention(qkv, batch, tokens, heads, headDim);
  const fused: Float32Array[] = [];
  const full: Float32Array[] = [];
  for (const variant of ATTENTION_KERNELS) {
    await withGpu({ forceVariants: { attention: variant } }, async (gpu) => {
      const t = Tensor.fromArray(gpu, qkv, [batch, tokens, 3 * heads * headDim]);
      const { output, residual } = fullAttentionWithResidual(t, heads, window);
      const plain = fullAttention(t, heads);
      fused.push(await output.toFloat32());
      full.push(await plain.toFloat32());
      strictEqual(launches(gpu, `attention/${variant}`), 2, `${variant} ran`);
      assertRelativeError(fused.at(-1)!, fullRef, 1e-4, `fused attention ${variant}`);
      assertRelativeError(full.at(-1)!, fullRef, 1e-4, `full attention ${variant}`);
      for (const r of [t, output, residual, plain]) r.release();
    });
  }
  if (full.length === 2) {
    // Full attention: both kernels rescale at the same key tiles, so they round alike.
    ok(full[1].every((v, i) => v === full[0][i]), "full attention: flash and direct identical");
    // Fused: the direct kernel visits the keys outside each lane's band first, so the sums are
    // ordered differently; they agree within the kernels' tolerance.
    assertRelativeError(fused[1], fused[0], 1e-4, "fused: flash vs direct");
  }
});

Deno.test("kernel choice: bad JSON and bad forced variants are named", async () => {
  assertThrows(() => KernelChoices.fromJson([]), OptionError, "expected a JSON object");
  assertThrows(
    () => KernelChoices.fromJson({ format: "x", version: 1, adapters: {} }, "choices.json"),
    OptionError,
    'choices.json: field "format"',
  );
  const bad = {
    format: "ditfastattn-kernel-choices",
    version: 1,
    adapters: { a: { "linear f32 m1 n1 k1": { variant: "fast", millis: {} } } },
  };
  assertThrows(() => KernelChoices.fromJson(bad), OptionError, 'variant "fast" is not one of');
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, "{ not json");
    let message = "";
    await loadKernelChoices(path).catch((e) => message = `${e.name}: ${e.message}`);
    ok(message.startsWith(`OptionError: kernel choices ${path}: not JSON`), message);
  } finally {
    await Deno.remove(path);
  }
  let message = "";
  await Gpu.create({ forceVariants: { linear: "fastest" } }).catch((e) => message = e.message);
  ok(message.includes('forceVariants.linear: "fastest" is not one of'), message);
});

Deno.test("kernel choice: a failing variant is left out; the default loses only to a 10% lead", async () => {
  const delays: Record<string, number> = {};
  let last = "";
  const host: TrialHost = {
    adapterKey: "fake adapter",
    flush: () => {},
    workDone: () => new Promise((resolve) => setTimeout(resolve, delays[last])),
    checkErrors: () => Promise.resolve(),
    withoutCapture: (body) => body(),
    failureOf: async (body) => {
      try {
        await body();
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
  };
  const chooser = new KernelChooser(host);
  const trial = (): KernelTrial<string> => ({
    launch: (variant) => {
      if (variant === "gemm") throw new Error("gemm does not compile here");
      last = variant;
    },
    dispose: () => {},
  });
  const ask = (shapeClass: string) =>
    chooser.choose({
      family: "linear",
      shapeClass,
      candidates: ["tiled", "direct", "gemm"],
      trial,
    });
  Object.assign(delays, { tiled: 30, direct: 29 });
  strictEqual(ask("close"), "tiled", "the fixed default before the trial");
  await chooser.runPending();
  const close = chooser.choices.get("fake adapter", "linear close")!;
  deepStrictEqual(Object.keys(close.millis).sort(), ["direct", "tiled"], "gemm left out");
  strictEqual(close.variant, "tiled", `3% faster is noise: ${JSON.stringify(close.millis)}`);
  Object.assign(delays, { tiled: 30, direct: 10 });
  ask("far");
  await chooser.runPending();
  strictEqual(ask("far"), "direct", "3× faster wins");
  strictEqual(chooser.trialsRun, 2);
});
