/**
 * Benches for compute-bound kernels: Deno.bench times one warm-up call and `runs` synced calls,
 * and after the last one the case logs GFLOP/s from its best call after the warm-up. Each call
 * waits for the GPU, so the time includes one submit-to-completion latency (and, for a kernel
 * that packs its input into a texture, that packing).
 */

import type { Gpu } from "../src/gpu/context.ts";
import type { Tensor } from "../src/tensor.ts";

export interface GflopsCase {
  name: string;
  group?: string;
  /** Floating-point operations of one call (2 per multiply-add). */
  flops: number;
  /** Records one call and returns its output (released by the bench). */
  launch: () => Tensor;
}

/** The first call also compiles the pipeline and packs weight textures (cached afterwards). */
const WARMUP = 1;

/** Registers `benchCase` with Deno.bench for `runs` timed calls; its GFLOP/s print at the end. */
export function benchGflops(gpu: Gpu, benchCase: GflopsCase, runs: number): void {
  let calls = 0;
  let bestMs = Infinity;
  Deno.bench({
    name: benchCase.name,
    group: benchCase.group,
    n: runs,
    warmup: WARMUP,
    async fn() {
      const start = performance.now();
      const output = benchCase.launch();
      await gpu.sync();
      const ms = performance.now() - start;
      output.release();
      // Deno runs warmup + n iterations and calls fn for each.
      if (++calls > WARMUP) bestMs = Math.min(bestMs, ms);
      if (calls === WARMUP + runs) {
        const gflops = benchCase.flops / (bestMs * 1e6);
        console.log(
          `${benchCase.name}: ${gflops.toFixed(1)} GFLOP/s (best ${bestMs.toFixed(1)} ms)`,
        );
      }
    },
  });
}

/**
 * Best milliseconds per call of `run` (outputs released) over ≥ `minMs` of timed calls, after
 * one untimed call: that one compiles, packs weights and, at its sync, runs the measured
 * choice's trial, so the timed calls use the chosen variant.
 */
export async function bestMsPerCall(
  gpu: Gpu,
  run: () => Tensor[],
  minMs = 200,
): Promise<number> {
  const once = async (calls: number) => {
    const started = performance.now();
    for (let i = 0; i < calls; i++) for (const t of run()) t.release();
    await gpu.sync();
    return (performance.now() - started) / calls;
  };
  await once(1);
  const first = await once(1);
  const calls = Math.max(1, Math.min(20, Math.ceil(minMs / first)));
  return Math.min(first, await once(calls));
}
