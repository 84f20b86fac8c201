/**
 * The T5 encoder's kernels at T5-XXL shapes (d_model 4096, 64 heads × 64, d_ff 10240; prompts of
 * 120 tokens as PixArt-α uses and 300 as PixArt-Σ, batch 2): RMS norm, the fused gated GELU and
 * the chunked embedding gather print GB/s (bench/bandwidth.ts); the attention with a position
 * bias is timed against the plain full attention of the same shape as the baseline.
 *
 *   deno bench -A --unstable-webgpu bench/t5_bench.ts
 */

import { biasedAttention, fullAttention } from "../src/ops/attention.ts";
import { geluTanhMul } from "../src/ops/elementwise.ts";
import { embeddingGather, uploadTableChunks } from "../src/ops/embedding.ts";
import { rmsNorm } from "../src/ops/norm.ts";
import { Tensor } from "../src/tensor.ts";
import { randomArray } from "../tests/helpers.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";
import { randomTensor } from "./bench_inputs.ts";

const D_MODEL = 4096;
const HEADS = 64;
const D_KV = 64;
const D_FF = 10240;
const BATCH = 2;
const gpu = await getGpu();

const cases: BandwidthCase[] = [];
const weight = randomTensor(gpu, [D_MODEL], 1);
// 4096 rows of the f16 table in two chunks: the gather reads only the rows it is asked for, so
// the XXL table's 32128 rows would change nothing but the upload.
const table = uploadTableChunks(
  gpu,
  randomArray(4096 * D_MODEL, 2),
  [4096, D_MODEL],
  "f16",
  "table",
  2048,
);
for (const tokens of [120, 300]) {
  const rows = BATCH * tokens;
  const x = randomTensor(gpu, [rows, D_MODEL], 3);
  const gate = randomTensor(gpu, [rows, D_FF], 4);
  const up = randomTensor(gpu, [rows, D_FF], 5);
  const ids = Tensor.fromArray(
    gpu,
    Int32Array.from({ length: rows }, (_, i) => (i * 977) % 4096),
    [rows],
  );
  cases.push({
    name: `rmsNorm [${BATCH}·${tokens}, ${D_MODEL}]`,
    bytes: 2 * rows * D_MODEL * 4,
    launch: () => rmsNorm(x, weight, 1e-6),
  });
  cases.push({
    name: `geluTanhMul [${BATCH}·${tokens}, ${D_FF}]`,
    bytes: 3 * rows * D_FF * 4,
    launch: () => geluTanhMul(gate, up),
  });
  cases.push({
    name: `embeddingGather f16, 2 chunks → [${BATCH}·${tokens}, ${D_MODEL}]`,
    bytes: rows * D_MODEL * (2 + 4),
    launch: () => embeddingGather(table, ids),
  });
}
await benchBandwidth(gpu, "t5 memory-bound", cases);

for (const tokens of [120, 300]) {
  const channels = HEADS * D_KV;
  const qkv = randomTensor(gpu, [BATCH, tokens, 3 * channels], tokens, 0.3);
  const bias = randomTensor(gpu, [HEADS, tokens, tokens], 7);
  const mask = Tensor.fromArray(
    gpu,
    Float32Array.from({ length: BATCH * tokens }, (_, i) => (i % tokens < tokens - 17 ? 1 : 0)),
    [BATCH, tokens],
  );
  const gflop = (2 * 2 * BATCH * tokens * tokens * channels / 1e9).toFixed(2);
  const group = `attention N=${tokens}`;
  Deno.bench({
    name: `fullAttention ${BATCH}×${HEADS}×${D_KV}, N=${tokens} (${gflop} GFLOP)`,
    group,
    baseline: true,
    n: 10,
    warmup: 1,
    async fn() {
      fullAttention(qkv, HEADS).release();
      await gpu.sync();
    },
  });
  Deno.bench({
    name: `biasedAttention + mask ${BATCH}×${HEADS}×${D_KV}, N=${tokens} (${gflop} GFLOP)`,
    group,
    n: 10,
    warmup: 1,
    async fn() {
      biasedAttention(qkv, HEADS, bias, mask).release();
      await gpu.sync();
    },
  });
}
