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

/** A report field and the kernels whose seconds it sums, by kernel name. */
export type KernelCategory<Field extends string> = readonly [field: Field, kernels: RegExp];

/**
 * Captured kernel seconds summed per category: each kernel counts in the first category whose
 * pattern its name matches (so a narrower pattern goes before a broader one), else in
 * `otherSeconds`; `kernelSeconds` is the total.
 */
export function kernelSecondsBy<Field extends string>(
  times: readonly KernelTime[],
  categories: readonly KernelCategory<Field>[],
): Record<Field | "kernelSeconds" | "otherSeconds", number> {
  const sums = { kernelSeconds: 0 } as Record<Field | "kernelSeconds" | "otherSeconds", number>;
  for (const [field] of categories) sums[field] = 0;
  sums.otherSeconds = 0;
  for (const t of times) {
    sums.kernelSeconds += t.seconds;
    const category = categories.find(([, kernels]) => kernels.test(t.name));
    sums[category ? category[0] : "otherSeconds"] += t.seconds;
  }
  return sums;
}

export function formatBreakdown(b: TimeBreakdown): string {
  const pct = (x: number) => `${((100 * x) / b.totalSeconds).toFixed(1)}%`;
  return `attention ${pct(b.attentionSeconds)}, linears ${pct(b.linearSeconds)}, rest ${
    pct(b.otherSeconds)
  }`;
}
