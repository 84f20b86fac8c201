/**
 * Attention kernels at DiT-XL head shapes (16 heads × 72 = 1152 channels, batch 1, w = N/8).
 * The GFLOP count of one call is in each name (2 flops per MAC; the fused kernel's is its full
 * attention part). bench/attention_report.ts prints GFLOP/s and the window/full ratios.
 * Each iteration waits for the GPU, so it includes one submit-to-completion latency.
 */

import {
  attentionMacs,
  fullAttention,
  fullAttentionWithResidual,
  windowAttention,
} from "../src/ops/attention.ts";
import { getGpu } from "../deno.ts";
import { XL_HEAD_DIM, XL_HEADS, xlPackedQkv } from "./bench_inputs.ts";

const gpu = await getGpu();

for (const tokens of [256, 1024, 4096]) {
  const window = tokens / 8;
  const channels = XL_HEADS * XL_HEAD_DIM;
  const qkv = xlPackedQkv(gpu, tokens);
  const gflop = (macs: number) => (2 * macs / 1e9).toFixed(2);
  const fullMacs = attentionMacs(tokens, channels);
  const windowMacs = attentionMacs(tokens, channels, window);
  // Full attention at N = 4096 takes seconds on a CPU adapter: keep repetitions few there.
  const n = tokens >= 4096 ? 2 : tokens >= 1024 ? 5 : 20;
  const group = `N=${tokens}`;
  Deno.bench({
    name: `full N=${tokens} (${gflop(fullMacs)} GFLOP)`,
    group,
    baseline: true,
    n,
    warmup: 1,
    async fn() {
      fullAttention(qkv, XL_HEADS).release();
      await gpu.sync();
    },
  });
  Deno.bench({
    name: `window N=${tokens} w=${window} (${gflop(windowMacs)} GFLOP)`,
    group,
    n,
    warmup: 1,
    async fn() {
      windowAttention(qkv, XL_HEADS, window).release();
      await gpu.sync();
    },
  });
  Deno.bench({
    name: `full+residual N=${tokens} w=${window} (${gflop(fullMacs)} GFLOP)`,
    group,
    n,
    warmup: 1,
    async fn() {
      const { output, residual } = fullAttentionWithResidual(qkv, XL_HEADS, window);
      output.release();
      residual.release();
      await gpu.sync();
    },
  });
}
