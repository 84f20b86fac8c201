/**
 * Attention timing report: full, window (w = N/8) and fused full+residual attention at DiT-XL
 * head shapes (16 heads × 72, batch 1) for N = 256, 1024, 4096 tokens, with the window/full time
 * ratio next to the window/full MAC ratio, and GFLOP/s (2 flops per MAC).
 *
 *   deno run -A --unstable-webgpu bench/attention_report.ts [--tokens 256,1024] [--json]
 *
 * Timing: the three kernels are compiled first, then timed round-robin (so load from other
 * processes hits them alike) and the best round is kept. A round records enough launches into
 * one submit to run ≥ 0.3 s and divides, so the submit-to-completion latency of the WebGPU
 * queue (≈ 10 ms on lavapipe) is spread over them.
 */

import type { Gpu } from "../src/gpu/context.ts";
import {
  attentionMacs,
  attentionTiling,
  fullAttention,
  fullAttentionWithResidual,
  windowAttention,
} from "../src/ops/attention.ts";
import type { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";
import { XL_HEAD_DIM, XL_HEADS, xlPackedQkv } from "./bench_inputs.ts";

/** One row of the report (plain data, JSON-serialisable). */
export interface AttentionReportRow {
  tokens: number;
  window: number;
  fullMs: number;
  windowMs: number;
  fusedMs: number;
  /** windowMs / fullMs. */
  timeRatio: number;
  /** attentionMacs(window) / attentionMacs(full). */
  macsRatio: number;
  fullGflops: number;
  windowGflops: number;
  /** Counted with the full-attention MACs only. */
  fusedGflops: number;
  tilings: { full: string; window: string; fused: string };
}

type Variant = "full" | "window" | "fused";

function launch(variant: Variant, qkv: Tensor, window: number): void {
  if (variant === "full") fullAttention(qkv, XL_HEADS).release();
  else if (variant === "window") windowAttention(qkv, XL_HEADS, window).release();
  else {
    const { output, residual } = fullAttentionWithResidual(qkv, XL_HEADS, window);
    output.release();
    residual.release();
  }
}

async function timeBatch(
  gpu: Gpu,
  variant: Variant,
  qkv: Tensor,
  window: number,
  launches: number,
) {
  const start = performance.now();
  for (let i = 0; i < launches; i++) launch(variant, qkv, window);
  await gpu.sync();
  return (performance.now() - start) / launches;
}

/** Measures one token count; `rounds` round-robin repetitions, best kept. */
export async function measureAttention(
  gpu: Gpu,
  tokens: number,
  rounds: number,
): Promise<AttentionReportRow> {
  const window = tokens / 8;
  const channels = XL_HEADS * XL_HEAD_DIM;
  const qkv = xlPackedQkv(gpu, tokens);
  const variants: Variant[] = ["full", "window", "fused"];
  const launches = new Map<Variant, number>();
  const best = new Map<Variant, number>();
  for (const variant of variants) {
    // The first launch compiles the pipeline (seconds at D = 72); the second sizes the batches.
    await timeBatch(gpu, variant, qkv, window, 1);
    const once = await timeBatch(gpu, variant, qkv, window, 1);
    launches.set(variant, Math.max(1, Math.min(16, Math.ceil(300 / once))));
    best.set(variant, Infinity);
  }
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const ms = await timeBatch(gpu, variant, qkv, window, launches.get(variant)!);
      best.set(variant, Math.min(best.get(variant)!, ms));
    }
  }
  qkv.release();
  const fullMacs = attentionMacs(tokens, channels);
  const windowMacs = attentionMacs(tokens, channels, window);
  const gflops = (macs: number, ms: number) => (2 * macs) / (ms * 1e6);
  const describe = (variant: Variant) => {
    const t = attentionTiling(gpu, variant, XL_HEAD_DIM, window);
    return `${t.workgroupSize}×${t.queriesPerInvocation}q, kt ${t.keyTile}`;
  };
  const fullMs = best.get("full")!;
  const windowMs = best.get("window")!;
  const fusedMs = best.get("fused")!;
  return {
    tokens,
    window,
    fullMs,
    windowMs,
    fusedMs,
    timeRatio: windowMs / fullMs,
    macsRatio: windowMacs / fullMacs,
    fullGflops: gflops(fullMacs, fullMs),
    windowGflops: gflops(windowMacs, windowMs),
    fusedGflops: gflops(fullMacs, fusedMs),
    tilings: { full: describe("full"), window: describe("window"), fused: describe("fused") },
  };
}

/** The report as a Markdown table. */
export function formatAttentionReport(rows: readonly AttentionReportRow[]): string {
  const lines = [
    "| N | w | full ms | window ms | fused ms | window/full time | window/full MACs | time/MACs ratio | GFLOP/s full | window | fused |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.tokens} | ${r.window} | ${r.fullMs.toFixed(1)} | ${r.windowMs.toFixed(1)} | ` +
        `${r.fusedMs.toFixed(1)} | ${r.timeRatio.toFixed(3)} | ${r.macsRatio.toFixed(3)} | ` +
        `${(r.timeRatio / r.macsRatio).toFixed(2)} | ${r.fullGflops.toFixed(1)} | ` +
        `${r.windowGflops.toFixed(1)} | ${r.fusedGflops.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = [...Deno.args];
  const json = args.includes("--json");
  const at = args.indexOf("--tokens");
  const tokenCounts = at >= 0 ? args[at + 1].split(",").map(Number) : [256, 1024, 4096];
  const gpu = await getGpu();
  const rows: AttentionReportRow[] = [];
  for (const tokens of tokenCounts) {
    // Full attention at N = 4096 takes seconds per call on a CPU adapter.
    rows.push(await measureAttention(gpu, tokens, tokens >= 4096 ? 2 : 5));
    if (!json) console.error(`measured N = ${tokens}`);
  }
  if (json) {
    console.log(JSON.stringify({ adapter: gpu.adapterDescription, rows }, null, 2));
  } else {
    console.log(`adapter: ${gpu.adapterDescription}; heads 16 × 72, batch 1, w = N/8`);
    console.log(formatAttentionReport(rows));
    for (const r of rows) {
      console.log(
        `N=${r.tokens} tilings: full ${r.tilings.full}; window ${r.tilings.window}; ` +
          `fused ${r.tilings.fused}`,
      );
    }
  }
}
