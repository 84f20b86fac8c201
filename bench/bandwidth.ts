/**
 * Bandwidth benches for memory-bound kernels. Waiting for the GPU costs ~10 ms per submit on
 * lavapipe, more than most kernels here, so the time per launch is the slope between batches
 * of N and 3N launches (each batch one submit), with N grown until a batch takes ≥ 40 ms.
 * Each batch size keeps its fastest sample: other work on a shared CPU only ever adds time.
 * GB/s counts the bytes a launch must move (reads + writes, each byte once).
 */

import type { Gpu } from "../src/gpu/context.ts";
import type { Tensor } from "../src/tensor.ts";

export interface BandwidthCase {
  name: string;
  /** Bytes one launch reads and writes at minimum. */
  bytes: number;
  /** Records one launch and returns its output (released by the bench). */
  launch: () => Tensor;
}

export interface BandwidthResult {
  name: string;
  milliseconds: number;
  gigabytesPerSecond: number;
}

async function timeLaunches(gpu: Gpu, launch: () => Tensor, count: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) launch().release();
  await gpu.sync();
  return performance.now() - start;
}

/** Time of one launch without the submit/wait overhead, and the bandwidth it implies. */
export async function measureBandwidth(
  gpu: Gpu,
  benchCase: BandwidthCase,
  samples = 5,
): Promise<BandwidthResult> {
  let count = 2;
  while ((await timeLaunches(gpu, benchCase.launch, count)) < 40 && count < 4096) count *= 2;
  const small: number[] = [];
  const large: number[] = [];
  for (let s = 0; s < samples; s++) {
    small.push(await timeLaunches(gpu, benchCase.launch, count));
    large.push(await timeLaunches(gpu, benchCase.launch, 3 * count));
  }
  const milliseconds = Math.max((Math.min(...large) - Math.min(...small)) / (2 * count), 1e-6);
  return {
    name: benchCase.name,
    milliseconds,
    gigabytesPerSecond: benchCase.bytes / milliseconds / 1e6,
  };
}

/** Prints each case's GB/s now and registers it with `Deno.bench` for the timing table. */
export async function benchBandwidth(
  gpu: Gpu,
  group: string,
  cases: BandwidthCase[],
): Promise<void> {
  for (const benchCase of cases) {
    const result = await measureBandwidth(gpu, benchCase);
    console.log(
      `${result.name.padEnd(52)} ${result.milliseconds.toFixed(3).padStart(8)} ms ` +
        `${result.gigabytesPerSecond.toFixed(2).padStart(7)} GB/s`,
    );
    Deno.bench({
      name: benchCase.name,
      group,
      async fn(b) {
        b.start();
        await timeLaunches(gpu, benchCase.launch, 20);
        b.end();
      },
    });
  }
}
