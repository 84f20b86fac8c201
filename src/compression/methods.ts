/** The DiTFastAttn attention methods, by the names plan files (and xDiT) use. */

export type AttentionMethod =
  | "FULL_ATTN"
  | "FULL_ATTN_CFG_SHARE"
  | "RESIDUAL_WINDOW_ATTN"
  | "RESIDUAL_WINDOW_ATTN_CFG_SHARE"
  | "OUTPUT_SHARE";

export const ATTENTION_METHODS: readonly AttentionMethod[] = [
  "FULL_ATTN",
  "FULL_ATTN_CFG_SHARE",
  "RESIDUAL_WINDOW_ATTN",
  "RESIDUAL_WINDOW_ATTN_CFG_SHARE",
  "OUTPUT_SHARE",
];

/** The compressed candidates in the order the greedy search tries them (most compressive first). */
export const CANDIDATE_METHODS: readonly AttentionMethod[] = [
  "OUTPUT_SHARE",
  "RESIDUAL_WINDOW_ATTN_CFG_SHARE",
  "RESIDUAL_WINDOW_ATTN",
  "FULL_ATTN_CFG_SHARE",
];

export function isAttentionMethod(name: unknown): name is AttentionMethod {
  return typeof name === "string" && (ATTENTION_METHODS as readonly string[]).includes(name);
}

/** Full attention is computed (so the residual can be refreshed): FULL or its CFG-shared form. */
export function isFullMethod(method: AttentionMethod): boolean {
  return method === "FULL_ATTN" || method === "FULL_ATTN_CFG_SHARE";
}

/** Window attention plus the cached residual. */
export function isWindowMethod(method: AttentionMethod): boolean {
  return method === "RESIDUAL_WINDOW_ATTN" || method === "RESIDUAL_WINDOW_ATTN_CFG_SHARE";
}

/** Computes the conditional half only and shares it with the unconditional half. */
export function isCfgShareMethod(method: AttentionMethod): boolean {
  return method === "FULL_ATTN_CFG_SHARE" || method === "RESIDUAL_WINDOW_ATTN_CFG_SHARE";
}
