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

import { attentionMacs, fullAttention } from "../src/ops/attention.ts";
import { linear, matmulFlops } from "../src/ops/linear.ts";
import type { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";
import { randomTensor, XL_HEAD_DIM, XL_HEADS } from "./bench_inputs.ts";
import { bestMsPerCall } from "./gflops.ts";
import { geometricMean, runPeerScript } from "./peers.ts";

const values = benchArgs({
  rounds: "2",
  threads: "2",
  sizes: "256,512",
  python: "/usr/bin/python3",
});
const gpu = await getGpu();

/** numpy's seconds for one call of the case (and its matmuls alone, for attention). */
function numpy(args: string[]): Promise<{ seconds: number; matmulSeconds?: number }> {
  return runPeerScript(values.python, "numpy_peer.py", ["--threads", values.threads, ...args]);
}

/** Our best seconds per call over ≥ 0.3 s of calls (the measured choice's variant). */
async function ours(run: () => Tensor): Promise<number> {
  return await bestMsPerCall(gpu, () => [run()], 300) / 1000;
}

const load = () => Deno.loadavg()[0].toFixed(1);
const gflops = (flops: number, seconds: number) => (flops / seconds / 1e9).toFixed(1);

console.log(`adapter: ${gpu.adapterDescription}; numpy with ${values.threads} BLAS threads`);
console.log("| kernel | shape | ours GFLOP/s | numpy sgemm GFLOP/s | ours ÷ numpy | load |");
console.log("| --- | --- | --- | --- | --- | --- |");
const shares: Record<string, number[]> = { linear: [], attention: [] };
const linearShapes = [
  ["qkv", 1152, 3456],
  ["out-proj", 1152, 1152],
  ["fc1", 1152, 4608],
  ["fc2", 4608, 1152],
] as const;
for (const size of values.sizes.split(",").map(Number)) {
  const tokens = (size / 16) ** 2;
  const m = 2 * tokens; // the CFG batch: two rows per token
  for (const [name, k, n] of linearShapes) {
    const x = randomTensor(gpu, [m, k], 1);
    const w = randomTensor(gpu, [n, k], 2);
    const b = randomTensor(gpu, [n], 3);
    const flops = matmulFlops(m, n, k);
    for (let round = 0; round < Number(values.rounds); round++) {
      const a = await ours(() => linear(x, w, b));
      const peer = await numpy(["--case", "linear", "--m", `${m}`, "--k", `${k}`, "--n", `${n}`]);
      shares.linear.push(peer.seconds / a);
      console.log(
        `| linear | ${name} ${m}×${k}→${n} | ${gflops(flops, a)} | ` +
          `${gflops(flops, peer.seconds)} | ${(100 * peer.seconds / a).toFixed(0)}% | ${load()} |`,
      );
    }
    for (const t of [x, w, b]) t.release();
  }
  const qkv = randomTensor(gpu, [2, tokens, 3 * XL_HEADS * XL_HEAD_DIM], tokens);
  const flops = 2 * 2 * attentionMacs(tokens, XL_HEADS * XL_HEAD_DIM);
  for (let round = 0; round < Number(values.rounds); round++) {
    const a = await ours(() => fullAttention(qkv, XL_HEADS));
    const peer = await numpy(["--case", "attention", "--batch", "2", "--tokens", `${tokens}`]);
    shares.attention.push(peer.matmulSeconds! / a);
    console.log(
      `| attention | B 2, N ${tokens}, ${XL_HEADS}×${XL_HEAD_DIM} | ${gflops(flops, a)} | ` +
        `${gflops(flops, peer.matmulSeconds!)} (whole attention ${gflops(flops, peer.seconds)})` +
        ` | ${(100 * peer.matmulSeconds! / a).toFixed(0)}% | ${load()} |`,
    );
  }
  qkv.release();
}
for (const [kernel, ratios] of Object.entries(shares)) {
  const mean = geometricMean(ratios);
  console.log(`${kernel}: ours ÷ numpy sgemm, geometric mean ${(100 * mean).toFixed(0)}%`);
}
