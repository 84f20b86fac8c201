/**
 * Runs one attention kernel a given number of times (16 heads × 72, batch 1, w = N/8), for
 * counting its instructions and cache misses under valgrind: the difference between runs with
 * n and 1 launches is n − 1 launches' worth, without Deno's and Mesa's start-up.
 *
 *   valgrind --tool=cachegrind --cache-sim=yes deno run -A --unstable-webgpu \
 *     bench/attention_once.ts --variant window --tokens 1024 --launches 3
 */

import { fullAttention, windowAttention } from "../src/ops/attention.ts";
import { getGpu } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";
import { XL_HEADS, xlPackedQkv } from "./bench_inputs.ts";

const values = benchArgs({ variant: "window", tokens: "1024", launches: "1" });
const tokens = Number(values.tokens);
const launches = Number(values.launches);
if (values.variant !== "full" && values.variant !== "window") {
  throw new Error(`--variant must be full or window, got "${values.variant}"`);
}
if (!Number.isInteger(tokens) || tokens < 1 || !Number.isInteger(launches) || launches < 1) {
  throw new Error("--tokens and --launches must be positive integers");
}
const gpu = await getGpu();
const qkv = xlPackedQkv(gpu, tokens);
const launch = () =>
  values.variant === "full"
    ? fullAttention(qkv, XL_HEADS).release()
    : windowAttention(qkv, XL_HEADS, tokens / 8).release();
const start = performance.now();
for (let i = 0; i < launches; i++) launch();
await gpu.sync();
console.log(
  `${values.variant} N=${tokens}: ${launches} launches, ` +
    `${((performance.now() - start) / launches).toFixed(1)} ms each (first includes compilation)`,
);
