/**
 * Runs one linear launch a given number of times at a DiT-XL/2 shape, for counting its
 * instructions under valgrind (the difference between runs with n and 1 launches is n − 1
 * launches' worth, without Deno's and Mesa's start-up). Trials off: the fixed default kernel.
 *
 *   LP_NUM_THREADS=1 valgrind --tool=callgrind --separate-threads=yes deno run -A \
 *     --unstable-webgpu bench/linear_once.ts --m 512 --k 1152 --n 1152 --launches 3 [--tile 16,8,4]
 */

import { linear } from "../src/ops/linear.ts";
import { getGpu } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";
import { randomTensor } from "./bench_inputs.ts";

const values = benchArgs({ m: "512", k: "1152", n: "1152", launches: "1", tile: undefined });
const [m, k, n, launches] = [values.m, values.k, values.n, values.launches].map(Number);
// --tile ROWS,COLS,KBLOCK: the tiled kernel's register tile per lane (default: the launcher's).
const tileValues = values.tile?.split(",").map(Number);
const tile = tileValues &&
  { rowsPerLane: tileValues[0], colsPerLane: tileValues[1], kBlock: tileValues[2] };
const gpu = await getGpu({ kernelTrials: false });
const x = randomTensor(gpu, [m, k], 1);
const w = randomTensor(gpu, [n, k], 2);
linear(x, w, undefined, { tile }).release(); // compile and pack the weight outside the counted launches
await gpu.sync();
const start = performance.now();
for (let i = 0; i < launches; i++) linear(x, w, undefined, { tile }).release();
await gpu.sync();
console.log(
  `linear ${m}×${k}→${n}: ${launches} launches, ` +
    `${((performance.now() - start) / launches).toFixed(1)} ms each`,
);
