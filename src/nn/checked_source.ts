/**
 * The checks a family's weight loader runs before its first upload, in one order: the config's
 * block count against the checkpoint's blocks, every name and shape (one error listing all
 * problems), that each weight fits one storage binding, and then reads that refuse NaN and ±Inf.
 */

import type { Gpu } from "../gpu/context.ts";
import type { TensorSource } from "../io/safetensors.ts";
import {
  checkBlockCount,
  checkWeightBindings,
  checkWeights,
  finiteWeights,
  type GpuWeight,
} from "./weight_check.ts";

export interface WeightChecks {
  /** Names the weights in errors ("DiT", "VAE decoder"). */
  what: string;
  /**
   * The repeated blocks: their names' prefix (`transformer_blocks`), the config's count and the
   * config key giving it. Checked first, before anything is sized from the config.
   */
  blocks?: { prefix: string; count: number; key: string };
  /**
   * Every expected tensor name and shape, made once the block count is known to be right (from
   * the source too where the layout depends on what it holds).
   */
  expected: (source: TensorSource) => ReadonlyMap<string, readonly number[]>;
  /** Each weight as the GPU will store it (of those expected), where one could exceed a binding. */
  stored?: (expected: ReadonlyMap<string, readonly number[]>) => ReadonlyMap<string, GpuWeight>;
}

/** Runs `checks` against `source`; returns the source whose float reads refuse NaN and ±Inf. */
export function checkedSource(gpu: Gpu, source: TensorSource, checks: WeightChecks): TensorSource {
  const { what, blocks, stored } = checks;
  if (blocks) checkBlockCount(source, blocks.prefix, blocks.count, blocks.key);
  const expected = checks.expected(source);
  checkWeights(source, expected, what);
  if (stored) {
    checkWeightBindings(
      source.path,
      stored(expected),
      gpu.limits.maxStorageBufferBindingSize,
      what,
    );
  }
  return finiteWeights(source);
}
