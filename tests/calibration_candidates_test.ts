/**
 * Calibrating without window-attention candidates stores no residuals, so it never runs the
 * fused full + residual attention kernel (which SwiftShader cannot compile at some shapes,
 * docs/BROWSER.md), and its plan holds only the candidates it was given.
 */

import { compress } from "../calibrate/compress.ts";
import { ditTarget } from "../calibrate/targets/mod.ts";
import { DiTModel } from "../models/dit/model.ts";
import type { KernelCall } from "../src/gpu/context.ts";
import { goldenPath } from "./golden_files.ts";
import { testGpu } from "./helpers.ts";
import { localFolder } from "../deno.ts";

/** Kernel names dispatched while `run` runs. */
async function kernelsDuring(
  gpu: Awaited<ReturnType<typeof testGpu>>,
  run: () => Promise<unknown>,
): Promise<Set<string>> {
  const names = new Set<string>();
  const dispatch = gpu.dispatch;
  gpu.dispatch = (call: KernelCall) => {
    names.add(call.name);
    dispatch.call(gpu, call);
  };
  try {
    await run();
  } finally {
    gpu.dispatch = dispatch;
  }
  return names;
}

Deno.test("calibration without window candidates runs no residual attention kernel", async () => {
  const gpu = await testGpu();
  const model = await DiTModel.load(gpu, localFolder(goldenPath("dit-tiny-random")));
  const options = { threshold: 0.08, steps: 4, window: 12 };
  const calib = { labels: [3, 8], seed: 11 };
  const candidates = ["OUTPUT_SHARE", "FULL_ATTN_CFG_SHARE"] as const;
  let methods: string[] = [];
  const withoutWindow = await kernelsDuring(gpu, async () => {
    const sampler = await compress(ditTarget(model), calib, { ...options, candidates });
    methods = sampler.planFile.methods.flat();
  });
  const withWindow = await kernelsDuring(gpu, () => compress(ditTarget(model), calib, options));
  model.release();
  const fused = [...withWindow].filter((name) => /attention.*residual/i.test(name));
  if (fused.length === 0) {
    throw new Error(`the reference run used no residual kernel: ${[...withWindow].join(", ")}`);
  }
  const used = fused.filter((name) => withoutWindow.has(name));
  if (used.length > 0) throw new Error(`without window candidates it still ran ${used}`);
  const foreign = methods.filter((m) =>
    m !== "FULL_ATTN" && !(candidates as readonly string[]).includes(m)
  );
  if (foreign.length > 0) throw new Error(`the plan holds methods not offered: ${foreign}`);
});
