/**
 * Our linear and attention kernels against numpy/OpenBLAS on the same shapes (the DiT-XL/2
 * shapes of one CFG step at 256 and 512 px), run alternately — ours, numpy, ours, numpy — so
 * load from other processes falls on both alike. Prints GFLOP/s (2 flops per multiply-add)
 * and ours as a share of numpy's sgemm; the targets are linear ≥ 45% and attention
 * ≥ 30%. Ours runs the variant the measured choice keeps; numpy gets --threads BLAS threads.
 * Not part of the test suite.
 *
 *   deno run -A --unstable-webgpu bench/kernels_vs_numpy.ts [--rounds 2] [--threads 2]
 *       [--sizes 256,512] [--python /usr/bin/python3]
 *
 * Attention's reference is numpy's two batched sgemms alone (q·kᵀ and p·v, no softmax): the
 * sgemm speed on the same shapes. numpy's whole attention (with softmax) is printed beside it.
 */

import { parseArgs } from "node:util";
import { attentionMacs, fullAttention } from "../src/ops/attention.ts";
import { linear, matmulFlops } from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    sizes: { type: "string", default: "256,512" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
const gpu = await getGpu();
const HEADS = 16;
const HEAD_DIM = 72;

/** numpy's seconds for one call of the case (and its matmuls alone, for attention). */
async function numpy(args: string[]): Promise<{ seconds: number; matmulSeconds?: number }> {
  const script = new URL("./numpy_peer.py", import.meta.url).pathname;
  const output = await new Deno.Command(values.python!, {
    args: [script, "--threads", values.threads!, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`numpy_peer.py failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
}

/** Our best seconds per call over ≥ 0.3 s of calls (after a compile and trial call). */
async function ours(run: () => Tensor): Promise<number> {
  for (let i = 0; i < 2; i++) {
    run().release();
    await gpu.sync(); // compile; the first sync also runs the kernel trial
  }
  let started = performance.now();
  run().release();
  await gpu.sync();
  const first = (performance.now() - started) / 1000;
  const calls = Math.max(1, Math.min(20, Math.ceil(0.3 / first)));
  started = performance.now();
  for (let i = 0; i < calls; i++) run().release();
  await gpu.sync();
  return Math.min(first, (performance.now() - started) / 1000 / calls);
}

const load = () => Deno.loadavg()[0].toFixed(1);
const gflops = (flops: number, seconds: number) => (flops / seconds / 1e9).toFixed(1);
const randomData = (length: number) => Float32Array.from({ length }, (_, i) => Math.sin(i));

console.log(`adapter: ${gpu.adapterDescription}; numpy with ${values.threads} BLAS threads`);
console.log("| kernel | shape | ours GFLOP/s | numpy sgemm GFLOP/s | ours ÷ numpy | load |");
console.log("| --- | --- | --- | --- | --- | --- |");
const shares: Record<string, number[]> = { linear: [], attention: [] };
for (const size of values.sizes!.split(",").map(Number)) {
  const tokens = (size / 16) ** 2;
  const m = 2 * tokens; // the CFG batch: two rows per token
  for (
    const [name, k, n] of [["qkv", 1152, 3456], ["out-proj", 1152, 1152], [
      "fc1",
      1152,
      4608,
    ], ["fc2", 4608, 1152]] as const
  ) {
    const x = Tensor.fromArray(gpu, randomData(m * k), [m, k]);
    const w = Tensor.fromArray(gpu, randomData(n * k), [n, k]);
    const b = Tensor.fromArray(gpu, randomData(n), [n]);
    const flops = matmulFlops(m, n, k);
    for (let round = 0; round < Number(values.rounds); round++) {
      const a = await ours(() => linear(x, w, b));
      const peer = await numpy(["--case", "linear", "--m", `${m}`, "--k", `${k}`, "--n", `${n}`]);
      shares.linear.push(peer.seconds / a);
      console.log(
        `| linear | ${name} ${m}×${k}→${n} | ${gflops(flops, a)} | ${
          gflops(flops, peer.seconds)
        } | ` +
          `${(100 * peer.seconds / a).toFixed(0)}% | ${load()} |`,
      );
    }
    for (const t of [x, w, b]) t.release();
  }
  const qkv = Tensor.fromArray(gpu, randomData(2 * tokens * 3 * HEADS * HEAD_DIM), [
    2,
    tokens,
    3 * HEADS * HEAD_DIM,
  ]);
  const flops = 2 * 2 * attentionMacs(tokens, HEADS * HEAD_DIM);
  for (let round = 0; round < Number(values.rounds); round++) {
    const a = await ours(() => fullAttention(qkv, HEADS));
    const peer = await numpy(["--case", "attention", "--batch", "2", "--tokens", `${tokens}`]);
    shares.attention.push(peer.matmulSeconds! / a);
    console.log(
      `| attention | B 2, N ${tokens}, 16×72 | ${gflops(flops, a)} | ` +
        `${gflops(flops, peer.matmulSeconds!)} (whole attention ${
          gflops(flops, peer.seconds)
        }) | ` +
        `${(100 * peer.matmulSeconds! / a).toFixed(0)}% | ${load()} |`,
    );
  }
  qkv.release();
}
for (const [kernel, list] of Object.entries(shares)) {
  const mean = Math.exp(list.reduce((s, r) => s + Math.log(r), 0) / list.length);
  console.log(`${kernel}: ours ÷ numpy sgemm, geometric mean ${(100 * mean).toFixed(0)}%`);
}
