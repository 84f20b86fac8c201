/**
 * Launcher for the in-place q/k transforms of a packed qkv tensor (rotary embedding over
 * interleaved pairs, per-head RMSNorm), with the CPU tables the rotary embedding reads.
 */

import {
  QK_NORM_WORKGROUP_SIZE,
  qkNormInvocations,
  type QkNormSpec,
  qkNormWgsl,
} from "../../shaders/qk_norm.ts";
import { ShapeError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { expectShape, Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";

/** cos/sin of position p times each pair frequency, laid out per element as the kernel reads. */
export interface RopeTables {
  positions: number;
  /** [positions, D]: cos(p·f_k) at 2k and 2k + 1. */
  cos: Tensor;
  /** [positions, D]: −sin(p·f_k) at 2k, +sin(p·f_k) at 2k + 1. */
  sin: Tensor;
  release(): void;
}

/**
 * The rotary tables for positions 0..positions−1 and pair frequencies f [D/2] (the
 * `rope.freqs` buffer of the checkpoint). Angles p·f_k in float64, rounded once to f32.
 */
export function ropeTables(gpu: Gpu, frequencies: Float32Array, positions: number): RopeTables {
  const dim = 2 * frequencies.length;
  const cos = new Float32Array(positions * dim);
  const sin = new Float32Array(positions * dim);
  for (let p = 0; p < positions; p++) {
    for (let k = 0; k < frequencies.length; k++) {
      const angle = p * frequencies[k];
      const at = p * dim + 2 * k;
      cos[at] = cos[at + 1] = Math.cos(angle);
      sin[at] = -Math.sin(angle);
      sin[at + 1] = Math.sin(angle);
    }
  }
  const tables = {
    positions,
    cos: Tensor.fromArray(gpu, cos, [positions, dim], "f32", "rope-cos"),
    sin: Tensor.fromArray(gpu, sin, [positions, dim], "f32", "rope-sin"),
    release() {
      tables.cos.release();
      tables.sin.release();
    },
  };
  return tables;
}

export interface QkNormOptions {
  /** RMSNorm weights [D] for q and k (omit both to skip the norm). */
  qWeight?: Tensor;
  kWeight?: Tensor;
  eps?: number;
  /** Rotary embedding before the norm; row r of qkv is at position r % rope.positions. */
  rope?: RopeTables;
}

/**
 * Applies RoPE and/or RMSNorm to every head of q and k in qkv [..., 3·H·D] in place and returns
 * qkv (a no-op without either).
 */
export function qkNormInPlace(qkv: Tensor, heads: number, options: QkNormOptions): Tensor {
  const op = "qkNorm";
  const packed = qkv.shape[qkv.shape.length - 1];
  if (qkv.dtype !== "f32" || qkv.shape.length < 2) {
    throw new ShapeError(`${op}: f32 qkv [..., 3·H·D] expected, got ${qkv.dtype} [${qkv.shape}]`);
  }
  if (!Number.isInteger(heads) || heads < 1 || packed % (3 * heads) !== 0) {
    throw new ShapeError(`${op}: qkv width ${packed} is not 3·heads·D for ${heads} heads`);
  }
  const headDim = packed / (3 * heads);
  const rows = qkv.size / packed;
  const { qWeight, kWeight, rope } = options;
  if (!!qWeight !== !!kWeight) throw new ShapeError(`${op}: give both q and k norm weights`);
  if (qWeight && kWeight) {
    expectShape(qWeight, [headDim], `${op} q weight`);
    expectShape(kWeight, [headDim], `${op} k weight`);
  }
  if (rope) {
    if (headDim % 2 !== 0) {
      throw new ShapeError(`${op}: RoPE needs an even head dim, got ${headDim}`);
    }
    expectShape(rope.cos, [rope.positions, headDim], `${op} rope table`);
    if (rows % rope.positions !== 0) {
      throw new ShapeError(`${op}: ${rows} rows are not whole sequences of ${rope.positions}`);
    }
  }
  const eps = options.eps ?? 1e-6;
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  if ((!qWeight && !rope) || rows === 0) return qkv;
  const spec: QkNormSpec = {
    rows,
    heads,
    headDim,
    eps: qWeight ? eps : null,
    ropePositions: rope ? rope.positions : null,
  };
  const grid = flatGrid(qkNormInvocations(spec), QK_NORM_WORKGROUP_SIZE);
  const bindings = [qkv.binding()];
  if (qWeight && kWeight) bindings.push(qWeight.binding(), kWeight.binding());
  if (rope) bindings.push(rope.cos.binding(), rope.sin.binding());
  qkv.gpu.dispatch({
    name: op,
    wgsl: qkNormWgsl(spec, grid.rowInvocations),
    bindings,
    workgroups: grid.workgroups,
  });
  return qkv;
}
