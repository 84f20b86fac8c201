/** Groups per-kernel times into attention / linear / rest shares for the end-to-end reports. */

import type { KernelTime } from "../src/gpu/profiler.ts";

export interface TimeBreakdown {
  attentionSeconds: number;
  linearSeconds: number;
  otherSeconds: number;
  totalSeconds: number;
}

export function breakdown(times: readonly KernelTime[]): TimeBreakdown {
  let attention = 0, linears = 0, other = 0;
  for (const t of times) {
    if (/attention/i.test(t.name)) attention += t.seconds;
    else if (/^linear/.test(t.name)) linears += t.seconds;
    else other += t.seconds;
  }
  return {
    attentionSeconds: attention,
    linearSeconds: linears,
    otherSeconds: other,
    totalSeconds: attention + linears + other,
  };
}

export function formatBreakdown(b: TimeBreakdown): string {
  const pct = (x: number) => `${((100 * x) / b.totalSeconds).toFixed(1)}%`;
  return `attention ${pct(b.attentionSeconds)}, linears ${pct(b.linearSeconds)}, rest ${
    pct(b.otherSeconds)
  }`;
}
