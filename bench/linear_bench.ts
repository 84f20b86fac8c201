/**
 * linear at DiT-XL shapes (width 1152, batch 2 with 256 or 1024 tokens → M = 512, 2048).
 * Each case logs GFLOP/s (2·M·N·K / best wall time of a synced call) after its last iteration.
 * LINEAR_TILE="rows,cols,kBlock" overrides the tiled kernel's register tile (for sweeps).
 */

import { linear, type LinearOptions, matmulFlops } from "../src/ops/linear.ts";
import type { Activation } from "../src/ops/linear.ts";
import { getGpu } from "../deno.ts";
import { tileFromEnvironment } from "./bench_args.ts";
import { uniformTensor } from "./bench_inputs.ts";
import { benchGflops } from "./gflops.ts";

const gpu = await getGpu();
const WIDTH = 1152;
const RUNS = 3;
const TILE: LinearOptions["tile"] = tileFromEnvironment("LINEAR_TILE", [
  "rowsPerLane",
  "colsPerLane",
  "kBlock",
]);

interface BenchCase {
  name: string;
  m: number;
  k: number;
  n: number;
  activation?: Activation;
  weight?: "f32" | "f16";
  kernel?: LinearOptions["kernel"];
}

function benchLinear(c: BenchCase): void {
  const x = uniformTensor(gpu, [c.m, c.k], 1);
  const w = uniformTensor(gpu, [c.n, c.k], 0.03, c.weight ?? "f32");
  const b = uniformTensor(gpu, [c.n], 0.1);
  const options: LinearOptions = { activation: c.activation, kernel: c.kernel, tile: TILE };
  benchGflops(gpu, {
    name: `${c.name} [${c.m}×${c.k}]·[${c.k}×${c.n}]${c.weight === "f16" ? " f16 W" : ""}`,
    group: `M=${c.m}`,
    flops: matmulFlops(c.m, c.n, c.k),
    launch: () => linear(x, w, b, options),
  }, RUNS);
}

for (const m of [512, 2048]) {
  benchLinear({ name: "qkv", m, k: WIDTH, n: 3 * WIDTH });
  benchLinear({ name: "out-proj", m, k: WIDTH, n: WIDTH });
  benchLinear({ name: "fc1+gelu", m, k: WIDTH, n: 4 * WIDTH, activation: "gelu_tanh" });
  benchLinear({ name: "fc2", m, k: 4 * WIDTH, n: WIDTH });
}
benchLinear({ name: "required target", m: 2048, k: WIDTH, n: 4 * WIDTH });
benchLinear({ name: "required target", m: 2048, k: WIDTH, n: 4 * WIDTH, weight: "f16" });
benchLinear({ name: "adaLN (M = batch)", m: 2, k: WIDTH, n: 6 * WIDTH, activation: "none" });
benchLinear({ name: "out-proj, direct kernel", m: 512, k: WIDTH, n: WIDTH, kernel: "direct" });
