/**
 * The GPU check: on whatever adapter this runs, every kernel variant's time and GFLOP/s at the
 * key DiT-XL/2 shapes, the variant the measured choice keeps, then one DiT-XL/2 step (random
 * weights, CFG batch 2) with full attention and under a plan of about half the attention MACs.
 *
 *   deno task bench:gpu [--quick] [--no-step] [--sizes 256,512] [--choices FILE]
 *
 * --quick: the 256 px shapes only and no direct linear at M = 2048 (minutes on a CPU adapter);
 * --no-step: kernels only; --choices: load/save the measured choices there. Copy the whole
 * output into docs/PERFORMANCE.md ("Kernel choice") with the adapter line.
 */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import type { Gpu } from "../src/gpu/context.ts";
import {
  attentionMacs,
  fullAttention,
  fullAttentionWithResidual,
  windowAttention,
} from "../src/ops/attention.ts";
import { linear, type LinearVariant, matmulFlops } from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { DIT_XL_2_256, randomDiTSource } from "../testing/random_dit.ts";
import { benchArgs, gpuWithKernelChoices } from "./bench_args.ts";
import { bestMsPerCall } from "./gflops.ts";
import { halfAttentionPlan } from "./scale_plan_mix.ts";

const values = benchArgs({ quick: false, "no-step": false, sizes: "256,512", choices: undefined });
const sizes = values.quick ? [256] : values.sizes.split(",").map(Number);
const gpu = await gpuWithKernelChoices(values.choices);

function adapterLines(gpu: Gpu): string[] {
  const l = gpu.device.limits;
  const info = gpu.adapterInfo;
  return [
    `adapter: ${gpu.adapterDescription} (vendor "${info.vendor}", architecture ` +
    `"${info.architecture}")`,
    `features: ${[...gpu.device.features].sort().join(", ")}`,
    `limits: workgroup storage ${l.maxComputeWorkgroupStorageSize} B, invocations ` +
    `${l.maxComputeInvocationsPerWorkgroup}, texture ${l.maxTextureDimension2D}, binding ` +
    `${l.maxStorageBufferBindingSize} B; fixed defaults: ${
      gpu.cpuKernels ? "CPU-shaped" : "GPU-shaped"
    }`,
  ];
}

/** The variant the measured choice keeps for a call of this shape (a fresh trial if needed). */
async function measuredChoice(call: () => Tensor[]): Promise<string> {
  const before = new Map(gpu.kernels.launches);
  for (const t of call()) t.release();
  await gpu.sync(); // runs the trial
  for (const t of call()) t.release();
  await gpu.sync();
  for (const [name, count] of gpu.kernels.launches) {
    if (count - (before.get(name) ?? 0) === 2) return name.split("/")[1];
  }
  return "?";
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

async function linearTable(): Promise<void> {
  const ms = values.quick ? [2, 512] : [2, 512, 2048];
  const shapes = [
    { name: "qkv", k: 1152, n: 3456 },
    { name: "out-proj", k: 1152, n: 1152 },
    { name: "fc1+GELU", k: 1152, n: 4608 },
    { name: "fc2", k: 4608, n: 1152 },
    { name: "adaLN", k: 1152, n: 6912 },
  ];
  console.log("\n**Linear** (ms per call, GFLOP/s in brackets; choice = the measured one)\n");
  console.log(row(["shape", "M", "weights", "tiled", "direct", "gemm", "choice"]));
  console.log(row(Array(7).fill("---")));
  for (const dtype of ["f32", "f16"] as const) {
    for (const s of shapes) {
      for (const m of ms) {
        if ((s.name === "adaLN") !== (m === 2)) continue;
        const x = Tensor.fromArray(gpu, new Float32Array(m * s.k).fill(0.01), [m, s.k]);
        const w = Tensor.fromArray(gpu, new Float32Array(s.n * s.k).fill(0.01), [s.n, s.k], dtype);
        const b = Tensor.fromArray(gpu, new Float32Array(s.n), [s.n]);
        const activation = s.name === "fc1+GELU" ? "gelu_tanh" as const : "none" as const;
        const cells: string[] = [];
        for (const kernel of ["tiled", "direct", "gemm"] as LinearVariant[]) {
          if (values.quick && kernel === "direct" && m >= 512) {
            cells.push("skipped");
            continue;
          }
          const t = await bestMsPerCall(gpu, () => [linear(x, w, b, { kernel, activation })]);
          const gflops = matmulFlops(m, s.n, s.k) / t / 1e6;
          cells.push(`${t.toFixed(1)} (${gflops.toFixed(1)})`);
        }
        const choice = await measuredChoice(() => [linear(x, w, b, { activation })]);
        console.log(row([`${s.name} ${s.k}→${s.n}`, m, dtype, ...cells, choice]));
        for (const t of [x, w, b]) t.release();
      }
    }
  }
}

async function attentionTable(): Promise<void> {
  const [batch, heads, headDim] = [2, 16, 72];
  console.log("\n**Attention** (B = 2, 16 heads × 72, w = N/8; ms per call, GFLOP/s)\n");
  console.log(row(["N", "op", "direct", "flash", "choice"]));
  console.log(row(Array(5).fill("---")));
  for (const size of sizes) {
    const tokens = (size / 16) ** 2;
    const window = tokens / 8;
    const data = new Float32Array(batch * tokens * 3 * heads * headDim);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.5;
    const qkv = Tensor.fromArray(gpu, data, [batch, tokens, 3 * heads * headDim]);
    const ops: [string, () => Tensor[], number][] = [
      ["full", () => [fullAttention(qkv, heads)], attentionMacs(tokens, heads * headDim)],
      [
        "window",
        () => [windowAttention(qkv, heads, window)],
        attentionMacs(tokens, heads * headDim, window),
      ],
      ["fused", () => {
        const r = fullAttentionWithResidual(qkv, heads, window);
        return [r.output, r.residual];
      }, attentionMacs(tokens, heads * headDim)],
    ];
    for (const [name, call, macs] of ops) {
      const cells: string[] = [];
      for (const kernel of ["direct", "flash"]) {
        gpu.kernels.force("attention", kernel);
        try {
          const t = await bestMsPerCall(gpu, call);
          cells.push(`${t.toFixed(1)} (${(2 * batch * macs / t / 1e6).toFixed(1)})`);
        } finally {
          gpu.kernels.force("attention", undefined);
        }
      }
      console.log(row([tokens, name, ...cells, await measuredChoice(call)]));
    }
    qkv.release();
  }
}

async function ditStep(size: number): Promise<void> {
  const config = { ...DIT_XL_2_256, sampleSize: size / 8 };
  const model = await DiTModel.fromSource(gpu, config, randomDiTSource(config));
  const tokens = (config.sampleSize / config.patchSize) ** 2;
  const options = { labels: [207], cfgScale: 4, seed: 1 };
  // Full: the second of two steps (the first compiles and runs the trials); plan: the third.
  const full = await sampleDiT(model, { ...options, steps: 2 });
  const plan = halfAttentionPlan(config.numLayers, 3, tokens);
  const compressed = await sampleDiT(model, { ...options, steps: 3, plan });
  console.log(
    `DiT-XL/2 ${size} px (${tokens} tokens), f32, CFG batch 2: full step ` +
      `${full.stepSeconds[1].toFixed(2)} s, step under the plan ` +
      `${compressed.stepSeconds[2].toFixed(2)} s (steps ${
        compressed.stepSeconds.map((s) => s.toFixed(1)).join(", ")
      })`,
  );
  model.release();
}

for (const line of adapterLines(gpu)) console.log(line);
await linearTable();
await attentionTable();
if (!values["no-step"]) {
  console.log("");
  for (const size of sizes) await ditStep(size);
}
console.log(`\nkernel trials run: ${gpu.kernels.trialsRun}`);
