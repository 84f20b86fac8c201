/**
 * Embedding kernels: table lookup by id, the sinusoidal timestep embedding and the 2D sincos
 * position embedding. Frequencies and positions are computed on the CPU exactly as the
 * reference does (f32 roundings included) and baked into the WGSL as constants, so GPU and
 * CPU see the same arguments bit for bit; only sin/cos run on the GPU.
 */

import { f32Literal } from "./common.ts";
import { laneType, mapKernel } from "./elementwise.ts";

/** Bindings of a gather: the table (of `tableType`), the i32 ids, the output lanes. */
function gatherBindings(tableType: string, outType: string): string {
  return `@group(0) @binding(0) var<storage, read> table: array<${tableType}>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<${outType}>;`;
}

/** out[b, :] = table[clamp(ids[b], 0, V − 1), :] (the clamp keeps bad ids inside the table). */
export function embeddingLookupWgsl(
  vocabulary: number,
  channels: number,
  batch: number,
  width: number,
  rowInvocations: number,
): string {
  const t = laneType(width);
  const rowLanes = channels / width;
  return mapKernel(
    gatherBindings(t, t),
    batch * rowLanes,
    rowInvocations,
    `    let id = u32(clamp(ids[i / ${rowLanes}u], 0, ${vocabulary - 1}));
    out[i] = table[id * ${rowLanes}u + i % ${rowLanes}u];`,
  );
}

/** One row chunk of an embedding table: table rows [rowBase, rowBase + rows). */
export interface TableChunkShape {
  /** Rows of the whole table (ids are clamped to [0, vocabulary − 1]). */
  vocabulary: number;
  channels: number;
  rowBase: number;
  rows: number;
  /** f16 chunks are read as u32 words holding two halves (no `shader-f16` needed). */
  dtype: "f32" | "f16";
}

/**
 * out[b, :] = chunk[id − rowBase, :] for the ids b whose (clamped) id falls inside this chunk;
 * other rows of `out` are left as they are, for the launches of the other chunks to write. One
 * launch per chunk keeps every binding within the storage-binding limit and needs no more
 * bindings than three, however many chunks the table takes. Lanes are `width` wide (4 needs
 * C % 4 = 0); f16 chunks are read as u32 words holding two halves (no `shader-f16` needed): a
 * vec2<u32> per vec4 lane, or one word per element at width 1.
 */
export function embeddingGatherChunkWgsl(
  chunk: TableChunkShape,
  batch: number,
  width: 1 | 4,
  rowInvocations: number,
): string {
  const { channels, rowBase, rows, vocabulary } = chunk;
  if (channels % width !== 0) throw new RangeError(`width ${width} does not divide ${channels}`);
  const rowLanes = channels / width;
  const t = laneType(width);
  const half = chunk.dtype === "f16";
  const tableType = !half ? t : width === 4 ? "vec2<u32>" : "u32";
  let read = `out[i] = table[local * ${rowLanes}u + i % ${rowLanes}u];`;
  if (half && width === 4) {
    read = `let words = table[local * ${rowLanes}u + i % ${rowLanes}u];
    out[i] = vec4<f32>(unpack2x16float(words.x), unpack2x16float(words.y));`;
  } else if (half) {
    read = `let e = local * ${channels}u + i % ${channels}u;
    let pair = unpack2x16float(table[e / 2u]);
    out[i] = select(pair.x, pair.y, (e & 1u) == 1u);`;
  }
  return mapKernel(
    gatherBindings(tableType, t),
    batch * rowLanes,
    rowInvocations,
    `    let id = clamp(ids[i / ${rowLanes}u], 0, ${vocabulary - 1});
    if (id < ${rowBase} || id >= ${rowBase + rows}) { continue; }
    let local = u32(id - ${rowBase});
    ${read}`,
  );
}

function constArray(name: string, values: ArrayLike<number>): string {
  const literals = Array.from(values, (v) => f32Literal(v)).join(", ");
  return `const ${name} = array<f32, ${values.length}>(${literals});\n`;
}

// 2π = C1 + C2 + C3 with C1 exact in 8 bits, so n·C1 is exact for the |n| < 2^16 we meet and
// the reduced argument keeps ~1e-8 absolute accuracy up to |a| ≈ 4·10^5. lavapipe's own sin
// loses digits once |a| reaches the hundreds (timesteps run to 999).
const TWO_PI = 2 * Math.PI;
const C1 = 6.28125;
const C2 = Math.fround(TWO_PI - C1);
const C3 = Math.fround(TWO_PI - C1 - C2);

/** `fn reduceAngle(a) -> r` with r ≡ a (mod 2π), |r| ≤ π, by the Cody–Waite split above. */
export const REDUCE_ANGLE_FUNCTION = `
fn reduceAngle(a: f32) -> f32 {
  let n = round(a * ${f32Literal(1 / TWO_PI)});
  return fma(n, ${f32Literal(-C3)}, fma(n, ${f32Literal(-C2)}, fma(n, ${f32Literal(-C1)}, a)));
}
`;

/**
 * out[b, j] for the timestep embedding: with `flip`, [cos(t·f), sin(t·f)], else [sin, cos];
 * a trailing column is zero when the width is odd.
 */
export function timestepEmbeddingWgsl(
  frequencies: Float32Array,
  dim: number,
  flip: boolean,
  batch: number,
  rowInvocations: number,
): string {
  const half = frequencies.length;
  const [first, second] = flip ? ["cos", "sin"] : ["sin", "cos"];
  return REDUCE_ANGLE_FUNCTION + (half > 0 ? constArray("FREQUENCIES", frequencies) : "") +
    mapKernel(
      `@group(0) @binding(0) var<storage, read> timesteps: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
      batch * dim,
      rowInvocations,
      half === 0 ? "    out[i] = 0.0;" : `    let j = i % ${dim}u;
    if (j >= ${2 * half}u) {
      out[i] = 0.0;
      continue;
    }
    let r = reduceAngle(timesteps[i / ${dim}u] * FREQUENCIES[j % ${half}u]);
    if (j < ${half}u) {
      out[i] = ${first}(r);
    } else {
      out[i] = ${second}(r);
    }`,
    );
}

/**
 * out[(r·W + c), j] for the 2D sincos table: quarters [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)]
 * with x = column position, y = row position. `axes` holds [row positions (H), column
 * positions (W), ω (D/4)]: a storage buffer, because naga copies a const array into a local
 * for every dynamic index, which made a 64×64×1152 table take 2 s.
 */
export function posEmbed2dWgsl(
  embedDim: number,
  gridH: number,
  gridW: number,
  rowInvocations: number,
): string {
  const quarter = embedDim / 4;
  return REDUCE_ANGLE_FUNCTION + mapKernel(
    `@group(0) @binding(0) var<storage, read> axes: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    gridH * gridW * embedDim,
    rowInvocations,
    `    let token = i / ${embedDim}u;
    let j = i % ${embedDim}u;
    let part = j / ${quarter}u;
    let position = axes[select(token / ${gridW}u, ${gridH}u + token % ${gridW}u, part < 2u)];
    let r = reduceAngle(position * axes[${gridH + gridW}u + j % ${quarter}u]);
    if (part % 2u == 0u) {
      out[i] = sin(r);
    } else {
      out[i] = cos(r);
    }`,
  );
}
