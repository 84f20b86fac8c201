/**
 * linear at DiT-XL shapes (width 1152, batch 2 with 256 or 1024 tokens → M = 512, 2048).
 * Each case logs GFLOP/s (2·M·N·K / best wall time of a synced call) after its last iteration.
 * LINEAR_TILE="rows,cols,kBlock" overrides the tiled kernel's register tile (for sweeps).
 */

import { linear, type LinearOptions, matmulFlops } from "../src/ops/linear.ts";
import type { Activation } from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const WIDTH = 1152;
const WARMUP = 1;
const RUNS = 3;

function tileFromEnvironment(): LinearOptions["tile"] {
  const spec = Deno.env.get("LINEAR_TILE");
  if (!spec) return undefined;
  const [rowsPerLane, colsPerLane, kBlock] = spec.split(",").map(Number);
  return { rowsPerLane, colsPerLane, kBlock };
}

function uniformArray(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.random() * 2 - 1) * scale;
  return out;
}

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
  const x = Tensor.fromArray(gpu, uniformArray(c.m * c.k, 1), [c.m, c.k]);
  const w = Tensor.fromArray(gpu, uniformArray(c.n * c.k, 0.03), [c.n, c.k], c.weight ?? "f32");
  const b = Tensor.fromArray(gpu, uniformArray(c.n, 0.1), [c.n]);
  const options: LinearOptions = {
    activation: c.activation,
    kernel: c.kernel,
    tile: tileFromEnvironment(),
  };
  const label = `${c.name} [${c.m}×${c.k}]·[${c.k}×${c.n}]${c.weight === "f16" ? " f16 W" : ""}`;
  let calls = 0;
  let bestMs = Infinity;
  Deno.bench({
    name: label,
    group: `M=${c.m}`,
    n: RUNS,
    warmup: WARMUP,
    async fn() {
      const start = performance.now();
      const y = linear(x, w, b, options);
      await gpu.sync();
      const ms = performance.now() - start;
      y.release();
      // Deno runs warmup + n iterations; the first also packs the weight texture (cached).
      if (++calls > WARMUP) bestMs = Math.min(bestMs, ms);
      if (calls === WARMUP + RUNS) {
        const gflops = matmulFlops(c.m, c.n, c.k) / (bestMs * 1e6);
        console.log(`${label}: ${gflops.toFixed(1)} GFLOP/s (best ${bestMs.toFixed(1)} ms)`);
      }
    },
  });
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
