/**
 * Launchers and CPU twins for the embedding kernels: class-table lookup, the gather from a
 * table split in row chunks (tables over one storage binding, such as T5-XXL's), the sinusoidal
 * timestep embedding (diffusers `get_timestep_embedding`) and the 2D sincos position
 * embedding (diffusers `get_2d_sincos_pos_embed`, the MAE formula).
 */

import {
  ELEMENTWISE_WORKGROUP_SIZE,
  laneWidth,
  mapInvocations,
} from "../../shaders/elementwise.ts";
import {
  embeddingGatherChunkWgsl,
  embeddingLookupWgsl,
  posEmbed2dWgsl,
  timestepEmbeddingWgsl,
} from "../../shaders/embedding.ts";
import { OptionError, ShapeError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { DTYPE_BYTES, Tensor } from "../tensor.ts";
import { expectF32 } from "./elementwise.ts";
import { flatGrid } from "./grid.ts";

export interface TimestepEmbeddingOptions {
  /** Put the cosines first ([cos, sin]), as DiT and PixArt do. */
  flipSinToCos: boolean;
  /** Frequency exponents are divided by (dim/2 − shift); DiT uses 1. */
  downscaleFreqShift: number;
  /** Longest period of the sinusoids (default 10000). */
  maxPeriod?: number;
}

/** out[b] = table[ids[b]] for table [V, C] and i32 ids [B]; ids outside [0, V) are clamped. */
export function embeddingLookup(table: Tensor, ids: Tensor): Tensor {
  const op = "embeddingLookup";
  expectF32(op, table);
  if (table.shape.length !== 2 || table.shape[0] === 0) {
    throw new ShapeError(`${op}: expected table of shape [V > 0, C], got [${table.shape}]`);
  }
  if (ids.dtype !== "i32" || ids.shape.length !== 1) {
    throw new ShapeError(`${op}: expected i32 ids of shape [B], got ${ids.dtype} [${ids.shape}]`);
  }
  const [vocabulary, channels] = table.shape;
  const batch = ids.shape[0];
  const out = Tensor.empty(table.gpu, [batch, channels], "f32", op);
  if (out.size === 0) return out;
  const width = laneWidth(channels);
  const grid = flatGrid(mapInvocations(out.size, width), ELEMENTWISE_WORKGROUP_SIZE);
  table.gpu.dispatch({
    name: op,
    wgsl: embeddingLookupWgsl(vocabulary, channels, batch, width, grid.rowInvocations),
    bindings: [table.binding(), ids.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

/**
 * Rows of a [V, C] table of `dtype` that one storage binding of `maxBindingBytes` holds (the
 * row count of each chunk `uploadTableChunks` makes).
 */
export function tableRowsPerChunk(
  channels: number,
  dtype: "f32" | "f16",
  maxBindingBytes: number,
): number {
  const rowBytes = channels * DTYPE_BYTES[dtype];
  const rows = Math.floor(maxBindingBytes / rowBytes);
  if (rows < 1) {
    throw new ShapeError(
      `embedding table: one row of ${channels} ${dtype} values (${rowBytes} bytes) is over the ` +
        `storage-binding limit of ${maxBindingBytes} bytes`,
    );
  }
  return rows;
}

/**
 * Uploads a [V, C] table (`data` row-major, f32 or rounded to f16) as row chunks [rows_k, C],
 * each within one storage binding: the input `embeddingGather` takes. `rowsPerChunk` defaults
 * to what fits the device's binding limit (tests pass a small count to force several chunks).
 */
export function uploadTableChunks(
  gpu: Gpu,
  data: Float32Array,
  shape: readonly [number, number],
  dtype: "f32" | "f16",
  label: string,
  rowsPerChunk?: number,
): Tensor[] {
  const [vocabulary, channels] = shape;
  if (!(vocabulary > 0) || !(channels > 0) || data.length !== vocabulary * channels) {
    throw new ShapeError(
      `${label}: ${data.length} values do not make a table [${vocabulary}, ${channels}]`,
    );
  }
  const perChunk = rowsPerChunk ??
    tableRowsPerChunk(channels, dtype, gpu.limits.maxStorageBufferBindingSize);
  if (!Number.isInteger(perChunk) || perChunk < 1) {
    throw new OptionError(`${label}: rowsPerChunk must be a positive integer, got ${perChunk}`);
  }
  const chunks: Tensor[] = [];
  for (let start = 0; start < vocabulary; start += perChunk) {
    const rows = Math.min(perChunk, vocabulary - start);
    const part = data.subarray(start * channels, (start + rows) * channels);
    chunks.push(Tensor.fromArray(gpu, part, [rows, channels], dtype, `${label}[${start}:]`));
  }
  return chunks;
}

/**
 * out[b] = table[ids[b]] for a table given as row chunks [rows_k, C] (f32 or f16, consecutive:
 * chunk k holds the rows after those of chunk k − 1), i32 ids [B] → [B, C] f32. Ids outside
 * [0, V) are clamped, as in `embeddingLookup`. One launch per chunk, each binding one chunk;
 * vec4 lanes when C % 4 = 0 (f16 included).
 */
export function embeddingGather(chunks: readonly Tensor[], ids: Tensor): Tensor {
  const op = "embeddingGather";
  if (chunks.length === 0) throw new ShapeError(`${op}: no table chunks`);
  const { dtype } = chunks[0];
  const channels = chunks[0].shape[1];
  for (const [k, chunk] of chunks.entries()) {
    const ok = chunk.shape.length === 2 && chunk.shape[0] > 0 && chunk.shape[1] === channels &&
      chunk.dtype === dtype && (dtype === "f32" || dtype === "f16") && chunk.gpu === ids.gpu;
    if (!ok || !(channels > 0)) {
      throw new ShapeError(
        `${op}: chunk ${k} must be a non-empty ${dtype} [rows, ${channels}] table on the ids' ` +
          `GPU (f32 or f16), got ${chunk.dtype} [${chunk.shape}]`,
      );
    }
  }
  if (ids.dtype !== "i32" || ids.shape.length !== 1) {
    throw new ShapeError(`${op}: expected i32 ids of shape [B], got ${ids.dtype} [${ids.shape}]`);
  }
  const vocabulary = chunks.reduce((n, c) => n + c.shape[0], 0);
  const batch = ids.shape[0];
  const out = Tensor.empty(ids.gpu, [batch, channels], "f32", op);
  if (out.size === 0) return out;
  const tableDtype: "f32" | "f16" = dtype === "f16" ? "f16" : "f32";
  const width = laneWidth(channels);
  const grid = flatGrid(mapInvocations(out.size, width), ELEMENTWISE_WORKGROUP_SIZE);
  let rowBase = 0;
  for (const chunk of chunks) {
    const shape = { vocabulary, channels, rowBase, rows: chunk.shape[0], dtype: tableDtype };
    ids.gpu.dispatch({
      name: op,
      wgsl: embeddingGatherChunkWgsl(shape, batch, width, grid.rowInvocations),
      bindings: [chunk.binding(), ids.binding(), out.binding()],
      workgroups: grid.workgroups,
    });
    rowBase += chunk.shape[0];
  }
  return out;
}

/**
 * The dim/2 frequencies exp(−ln(maxPeriod)·k / (dim/2 − shift)), rounded to f32 at each step
 * as PyTorch does (exponent product, quotient, exp), so the arguments t·f match diffusers.
 */
export function timestepFrequencies(dim: number, opts: TimestepEmbeddingOptions): Float32Array {
  const half = Math.floor(dim / 2);
  const maxPeriod = opts.maxPeriod ?? 10000;
  const divisor = half - opts.downscaleFreqShift;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new OptionError(`timestepEmbedding: dim must be a positive integer, got ${dim}`);
  }
  if (half > 0 && !(divisor > 0)) {
    throw new OptionError(
      `timestepEmbedding: dim/2 − downscaleFreqShift = ${divisor} must be positive`,
    );
  }
  const logPeriod = Math.fround(-Math.log(maxPeriod));
  const frequencies = new Float32Array(half);
  for (let k = 0; k < half; k++) {
    const exponent = Math.fround(Math.fround(logPeriod * k) / Math.fround(divisor));
    frequencies[k] = Math.exp(exponent);
  }
  return frequencies;
}

/** The timestep embedding [B, dim] of f32 timesteps t [B], on the GPU. */
export function timestepEmbedding(t: Tensor, dim: number, opts: TimestepEmbeddingOptions): Tensor {
  const op = "timestepEmbedding";
  expectF32(op, t);
  if (t.shape.length !== 1) {
    throw new ShapeError(`${op}: expected t of shape [B], got [${t.shape}]`);
  }
  const frequencies = timestepFrequencies(dim, opts);
  const batch = t.shape[0];
  const out = Tensor.empty(t.gpu, [batch, dim], "f32", op);
  if (out.size === 0) return out;
  const grid = flatGrid(mapInvocations(out.size, 1), ELEMENTWISE_WORKGROUP_SIZE);
  t.gpu.dispatch({
    name: op,
    wgsl: timestepEmbeddingWgsl(frequencies, dim, opts.flipSinToCos, batch, grid.rowInvocations),
    bindings: [t.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  return out;
}

/** `timestepEmbedding` on the CPU: row b is [sin(t_b·f), cos(t_b·f)] (or flipped), zero-padded. */
export function timestepEmbeddingCpu(
  t: number[] | Float32Array,
  dim: number,
  opts: TimestepEmbeddingOptions,
): Float32Array {
  const frequencies = timestepFrequencies(dim, opts);
  const half = frequencies.length;
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    const timestep = Math.fround(t[b]);
    for (let k = 0; k < half; k++) {
      const angle = Math.fround(timestep * frequencies[k]);
      const [first, second] = opts.flipSinToCos
        ? [Math.cos(angle), Math.sin(angle)]
        : [Math.sin(angle), Math.cos(angle)];
      out[b * dim + k] = first;
      out[b * dim + half + k] = second;
    }
  }
  return out;
}

/** Row and column positions and the per-axis frequencies of the 2D sincos table. */
interface PosEmbedAxes {
  rowPositions: Float32Array;
  columnPositions: Float32Array;
  omegas: Float64Array;
}

/**
 * Positions p/(grid/baseSize)/interpolationScale formed in f32 (diffusers divides an f32 arange
 * by Python floats, rounding at each step); ω_k = 10000^(−k/(D/4)) in f64, as diffusers.
 */
function posEmbedAxes(
  embedDim: number,
  gridH: number,
  gridW: number,
  baseSize: number,
  interpolationScale: number,
): PosEmbedAxes {
  if (!Number.isInteger(embedDim) || embedDim <= 0 || embedDim % 4 !== 0) {
    throw new OptionError(`posEmbed2d: embedDim must be a positive multiple of 4, got ${embedDim}`);
  }
  for (const [name, value] of [["gridH", gridH], ["gridW", gridW]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new OptionError(`posEmbed2d: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (!(baseSize > 0) || !(interpolationScale > 0)) {
    throw new OptionError(
      `posEmbed2d: baseSize ${baseSize} and interpolationScale ${interpolationScale} must be positive`,
    );
  }
  const positions = (grid: number) => {
    const step = Math.fround(grid / baseSize);
    const scale = Math.fround(interpolationScale);
    return Float32Array.from(
      { length: grid },
      (_, i) => Math.fround(Math.fround(i / step) / scale),
    );
  };
  return {
    rowPositions: positions(gridH),
    columnPositions: positions(gridW),
    omegas: sincosFrequencies(embedDim),
  };
}

/** ω_k = 10000^(−k/(D/4)) for k < D/4, in f64 (as diffusers and Open-Sora compute them). */
export function sincosFrequencies(embedDim: number): Float64Array {
  const quarter = embedDim / 4;
  return Float64Array.from({ length: quarter }, (_, k) => 1 / 10000 ** (k / quarter));
}

/**
 * The table [rows·columns, 4·ω.length] for tokens in row-major order: token (r, c) is
 * [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)] with x = columnPositions[c], y = rowPositions[r];
 * products and sinusoids in f64, rounded once to f32.
 */
export function sincosTable2d(
  rowPositions: Float32Array,
  columnPositions: Float32Array,
  omegas: Float64Array,
): Float32Array {
  const quarter = omegas.length;
  const embedDim = 4 * quarter;
  const gridW = columnPositions.length;
  const out = new Float32Array(rowPositions.length * gridW * embedDim);
  for (let r = 0; r < rowPositions.length; r++) {
    for (let c = 0; c < gridW; c++) {
      const base = (r * gridW + c) * embedDim;
      for (let k = 0; k < quarter; k++) {
        const x = columnPositions[c] * omegas[k];
        const y = rowPositions[r] * omegas[k];
        out[base + k] = Math.sin(x);
        out[base + quarter + k] = Math.cos(x);
        out[base + 2 * quarter + k] = Math.sin(y);
        out[base + 3 * quarter + k] = Math.cos(y);
      }
    }
  }
  return out;
}

/**
 * The 2D sincos position embedding [gridH·gridW, embedDim] for tokens in row-major order:
 * token (r, c) = [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)], x from the column, y from the row.
 */
export function posEmbed2dCpu(
  embedDim: number,
  gridH: number,
  gridW: number,
  baseSize: number,
  interpolationScale: number,
): Float32Array {
  const axes = posEmbedAxes(embedDim, gridH, gridW, baseSize, interpolationScale);
  return sincosTable2d(axes.rowPositions, axes.columnPositions, axes.omegas);
}

/** `posEmbed2dCpu` computed by a kernel on `gpu` (only the axis positions and ω are uploaded). */
export function posEmbed2d(
  gpu: Gpu,
  embedDim: number,
  gridH: number,
  gridW: number,
  baseSize: number,
  interpolationScale: number,
): Tensor {
  const { rowPositions, columnPositions, omegas } = posEmbedAxes(
    embedDim,
    gridH,
    gridW,
    baseSize,
    interpolationScale,
  );
  const axisValues = new Float32Array(gridH + gridW + omegas.length);
  axisValues.set(rowPositions);
  axisValues.set(columnPositions, gridH);
  axisValues.set(omegas, gridH + gridW);
  const axes = Tensor.fromArray(gpu, axisValues, [axisValues.length], "f32", "posEmbed2d-axes");
  const out = Tensor.empty(gpu, [gridH * gridW, embedDim], "f32", "posEmbed2d");
  const grid = flatGrid(mapInvocations(out.size, 1), ELEMENTWISE_WORKGROUP_SIZE);
  gpu.dispatch({
    name: "posEmbed2d",
    wgsl: posEmbed2dWgsl(embedDim, gridH, gridW, grid.rowInvocations),
    bindings: [axes.binding(), out.binding()],
    workgroups: grid.workgroups,
  });
  axes.release();
  return out;
}
