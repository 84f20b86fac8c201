/**
 * Linear (matmul) kernels: y = act(x·Wᵀ + b) with x [M, K], W [N, K] (PyTorch layout), y [M, N].
 *
 * Two families:
 * - `tiledLinearWgsl` reads both operands from rgba storage textures that `packTexelsWgsl` fills.
 *   On lavapipe a storage-buffer load inside a loop becomes a per-lane scalar loop with a bounds
 *   branch per component (~45 instructions per lane-vec4), while a storage-texture load is eight
 *   128-bit loads plus a 4×8 transpose for the whole SIMD row (~45 instructions for all 8 lanes).
 *   Each invocation owns `rowsPerLane × colsPerLane` outputs so every texel it loads feeds many
 *   multiply-adds; the 8 invocations of a workgroup are the 8 SIMD lanes and share the x rows.
 * - `directLinearWgsl` reads the buffers directly, without workgroup memory: for shapes the
 *   textures cannot hold, matrix-vector products, and adapters where it measures fastest.
 * A third, GPU-shaped kernel stages tiles in workgroup memory (shaders/linear_gemm.ts).
 */

export type Activation = "none" | "gelu_tanh" | "silu";

/** How weight rows are stored in the texture: 4 f32 per texel, or 8 f16 packed in rgba32uint. */
export type WeightTexelFormat = "f32" | "f16x8";

/** Output-side work fused into the store. */
export interface LinearEpilogue {
  bias: boolean;
  activation: Activation;
}

/** Register tile of one invocation of the tiled kernel. */
export interface TiledLinearTile {
  /** Rows of x (shared by all lanes of a workgroup). */
  rowsPerLane: number;
  /** Rows of W (output columns) per lane, strided by the lane count. */
  colsPerLane: number;
  /** x texels (4 k values each) consumed per loop iteration; even for f16x8 weights. */
  kBlock: number;
}

/**
 * The slice of the problem one tiled dispatch covers (textures hold at most `maxRows` rows). The
 * row count M is not baked in: the kernel derives it from the output's length, so one pipeline
 * serves every batch size (each compile of the unrolled kernel takes about a second).
 */
export interface TiledLinearShape {
  /** Rows of x per texture chunk (the texture height limit). */
  maxRows: number;
  /** Rows of this weight texture chunk (output columns). */
  cols: number;
  /** Texels per x row (K/4 rounded up, padded with zeros to a multiple of 8). */
  kTexels: number;
  /** Row length of the whole output (N). */
  outStride: number;
  /** First output row / column written by this dispatch. */
  rowBase: number;
  colBase: number;
  /** Invocations per workgroup = SIMD lanes of the adapter. */
  lanes: number;
  weightFormat: WeightTexelFormat;
}

/** x texels are padded to this multiple so any kBlock in {1, 2, 4, 8} divides the width. */
export const K_TEXEL_ALIGN = 8;

const SQRT_2_OVER_PI = "0.7978845608028654";

/** `fn activate(v: f32) -> f32` for the epilogue. */
export function activationWgsl(activation: Activation): string {
  switch (activation) {
    case "none":
      return "fn activate(v: f32) -> f32 { return v; }";
    case "gelu_tanh":
      // tanh(u) written as 1 − 2/(e^{2u}+1): saturates to ±1 instead of inf/inf = NaN at large |u|.
      return `fn activate(v: f32) -> f32 {
  let u = ${SQRT_2_OVER_PI} * (v + 0.044715 * v * v * v);
  let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
  return 0.5 * v * (1.0 + t);
}`;
    case "silu":
      // exp(−v) overflows to inf for very negative v, giving v/inf = −0: the right limit.
      return "fn activate(v: f32) -> f32 { return v / (1.0 + exp(-v)); }";
  }
}

function storeWgsl(value: string, row: string, col: string, stride: number, bias: boolean): string {
  const biased = bias ? `${value} + bias[${col}]` : value;
  return `y[(${row}) * ${stride}u + ${col}] = activate(${biased});`;
}

/** Number of workgroups [along M, along N] of a tiled dispatch over `rows` rows of x. */
export function tiledLinearGrid(
  rows: number,
  shape: TiledLinearShape,
  tile: TiledLinearTile,
): [number, number] {
  return [
    Math.ceil(rows / tile.rowsPerLane),
    Math.ceil(shape.cols / (shape.lanes * tile.colsPerLane)),
  ];
}

/**
 * Bindings: 0 x texels (rgba32float), 1 weight texels, 2 y, 3 bias (when used).
 * The grid's x dimension walks M so consecutive workgroups reuse the same weight rows from cache.
 */
export function tiledLinearWgsl(
  shape: TiledLinearShape,
  tile: TiledLinearTile,
  epilogue: LinearEpilogue,
): string {
  const { rowsPerLane: R, colsPerLane: C, kBlock: KB } = tile;
  const { lanes, weightFormat } = shape;
  const f16 = weightFormat === "f16x8";
  if (shape.kTexels % KB !== 0 || (f16 && KB % 2 !== 0)) {
    throw new RangeError(`tiled linear: kBlock ${KB} does not fit ${shape.kTexels} texels`);
  }
  const setup: string[] = [];
  // The output holds all M rows; this chunk's rows start at rowBase.
  setup.push(
    `let rows = min(arrayLength(&y) / ${shape.outStride}u - ${shape.rowBase}u, ${shape.maxRows}u);`,
  );
  for (let r = 0; r < R; r++) setup.push(`let xr${r} = min(m0 + ${r}u, rows - 1u);`);
  for (let c = 0; c < C; c++) {
    setup.push(`let wr${c} = min(n0 + ${c * lanes}u, ${shape.cols - 1}u);`);
  }
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) setup.push(`var acc${r}_${c} = 0.0;`);

  const body: string[] = [];
  for (let c = 0; c < C; c++) {
    if (f16) {
      for (let j = 0; j < KB; j += 2) {
        const p = `wp${c}_${j}`;
        body.push(`let ${p} = textureLoad(wTexels, vec2<u32>(t / 2u + ${j / 2}u, wr${c}));`);
        body.push(
          `let w${c}_${j} = vec4<f32>(unpack2x16float(${p}.x), unpack2x16float(${p}.y));`,
          `let w${c}_${j + 1} = vec4<f32>(unpack2x16float(${p}.z), unpack2x16float(${p}.w));`,
        );
      }
    } else {
      for (let j = 0; j < KB; j++) {
        body.push(`let w${c}_${j} = textureLoad(wTexels, vec2<u32>(t + ${j}u, wr${c}));`);
      }
    }
  }
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < KB; j++) {
      body.push(`let x${r}_${j} = textureLoad(xTexels, vec2<u32>(t + ${j}u, xr${r}));`);
    }
    for (let c = 0; c < C; c++) {
      // One chained update per accumulator per iteration: lavapipe blends every loop-carried
      // variable write with the loop's lane mask, so fewer writes means fewer blends and spills.
      let sum = `acc${r}_${c}`;
      for (let j = 0; j < KB; j++) {
        for (const q of "xyzw") sum = `fma(x${r}_${j}.${q}, w${c}_${j}.${q}, ${sum})`;
      }
      body.push(`acc${r}_${c} = ${sum};`);
    }
  }

  const stores: string[] = [];
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const row = `${shape.rowBase}u + m0 + ${r}u`;
      const col = `${shape.colBase}u + n0 + ${c * lanes}u`;
      stores.push(
        `if (m0 + ${r}u < rows && n0 + ${c * lanes}u < ${shape.cols}u) { ${
          storeWgsl(`acc${r}_${c}`, row, col, shape.outStride, epilogue.bias)
        } }`,
      );
    }
  }
  const weightType = f16 ? "rgba32uint" : "rgba32float";
  return `
@group(0) @binding(0) var xTexels: texture_storage_2d<rgba32float, read>;
@group(0) @binding(1) var wTexels: texture_storage_2d<${weightType}, read>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${epilogue.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${activationWgsl(epilogue.activation)}
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let m0 = wg.x * ${R}u;
  let n0 = wg.y * ${lanes * C}u + lane;
  ${setup.join("\n  ")}
  for (var t = 0u; t < ${shape.kTexels}u; t += ${KB}u) {
    ${body.join("\n    ")}
  }
  ${stores.join("\n  ")}
}`;
}

/** What `packTexelsWgsl` converts: f32 rows to rgba32float, or f16 rows to 8 halves per texel. */
export interface PackShape {
  source: "f32" | "f16";
  /** Rows packed by this dispatch, starting at `rowBase` of the source. */
  rows: number;
  rowBase: number;
  /** Elements per source row. */
  k: number;
  /** Texels per destination row (zero padded past k). */
  texels: number;
}

export const PACK_WORKGROUP = 64;

/**
 * Bindings: 0 source buffer, 1 destination storage texture (write). Grid [texels/64, rows]: the
 * grid, not the WGSL, carries the row count, so every batch size shares one pipeline.
 */
export function packTexelsWgsl(shape: Omit<PackShape, "rows">): string {
  const { k, texels, rowBase } = shape;
  const header = (srcType: string, format: string) => `
@group(0) @binding(0) var<storage, read> src: array<${srcType}>;
@group(0) @binding(1) var dst: texture_storage_2d<${format}, write>;
@compute @workgroup_size(${PACK_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let r = gid.y;
  if (t >= ${texels}u) { return; }
  let rowStart = (${rowBase}u + r) * ${k}u;`;
  if (shape.source === "f32") {
    if (k % 4 === 0) {
      return `${header("vec4<f32>", "rgba32float")}
  let v = src[rowStart / 4u + min(t, ${k / 4 - 1}u)];
  textureStore(dst, vec2<u32>(t, r), select(vec4<f32>(0.0), v, t < ${k / 4}u));
}`;
    }
    return `${header("f32", "rgba32float")}
  var v = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let kk = 4u * t + i;
    v[i] = select(0.0, src[rowStart + min(kk, ${k - 1}u)], kk < ${k}u);
  }
  textureStore(dst, vec2<u32>(t, r), v);
}`;
  }
  // f16 source read as u32 words so no shader-f16 feature is needed; rows may start mid-word.
  return `${header("u32", "rgba32uint")}
  var v = vec4<u32>(0u);
  for (var i = 0u; i < 8u; i++) {
    let kk = 8u * t + i;
    let h = rowStart + min(kk, ${k - 1}u);
    let bits = (src[h >> 1u] >> ((h & 1u) * 16u)) & 0xffffu;
    v[i / 2u] |= select(0u, bits, kk < ${k}u) << ((i & 1u) * 16u);
  }
  textureStore(dst, vec2<u32>(t, r), v);
}`;
}

/** Shape and tile of the buffer-reading kernel. */
export interface DirectLinearShape {
  m: number;
  n: number;
  k: number;
  weight: "f32" | "f16";
  /** Workgroup is lanesN × lanesM invocations; each owns rowsPerLane × colsPerLane outputs. */
  lanesN: number;
  lanesM: number;
  rowsPerLane: number;
  colsPerLane: number;
}

const MAX_GROUPS = 65535;

/** Grid of the direct kernel; M blocks past the 65535 limit spill into z. */
export function directLinearGrid(shape: DirectLinearShape): [number, number, number] {
  const groupsN = Math.ceil(shape.n / (shape.lanesN * shape.colsPerLane));
  const groupsM = Math.ceil(shape.m / (shape.lanesM * shape.rowsPerLane));
  const y = Math.min(groupsM, MAX_GROUPS);
  return [groupsN, y, Math.ceil(groupsM / y)];
}

/**
 * Bindings: 0 x, 1 W, 2 y, 3 bias (when used). K % 4 == 0 uses vec4 loads along K (f16 weights as
 * vec2<u32> = 4 halves); otherwise a scalar loop, f16 halves pulled out of u32 words.
 */
export function directLinearWgsl(shape: DirectLinearShape, epilogue: LinearEpilogue): string {
  const { m, n, k, lanesN, lanesM, rowsPerLane: R, colsPerLane: C } = shape;
  const [, groupsY] = directLinearGrid(shape);
  const vector = k % 4 === 0;
  const f16 = shape.weight === "f16";
  const step = vector ? 4 : 1;
  const setup: string[] = [];
  for (let r = 0; r < R; r++) {
    setup.push(`let xr${r} = min(m0 + ${r * lanesM}u, ${Math.max(m - 1, 0)}u) * ${k / step}u;`);
  }
  for (let c = 0; c < C; c++) {
    setup.push(`let wr${c} = min(n0 + ${c * lanesN}u, ${Math.max(n - 1, 0)}u) * ${k}u;`);
  }
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) setup.push(`var acc${r}_${c} = 0.0;`);

  const body: string[] = [];
  for (let c = 0; c < C; c++) {
    const h = `wr${c} + kk`;
    if (!f16) body.push(`let w${c} = w[(${h}) / ${step}u];`);
    else if (vector) {
      body.push(`let wp${c} = w[(${h}) / 4u];`);
      body.push(`let w${c} = vec4<f32>(unpack2x16float(wp${c}.x), unpack2x16float(wp${c}.y));`);
    } else {
      body.push(
        `let w${c} = unpack2x16float(w[(${h}) >> 1u] >> (((${h}) & 1u) * 16u)).x;`,
      );
    }
  }
  for (let r = 0; r < R; r++) {
    body.push(`let x${r} = x[xr${r} + kk / ${step}u];`);
    for (let c = 0; c < C; c++) {
      // One fma per k in order, as the tiled and gemm kernels do: every variant rounds alike,
      // so the measured choice of variant never changes a result.
      const terms = vector ? ["x", "y", "z", "w"].map((q) => [`x${r}.${q}`, `w${c}.${q}`]) : [
        [`x${r}`, `w${c}`],
      ];
      let sum = `acc${r}_${c}`;
      for (const [a, b] of terms) sum = `fma(${a}, ${b}, ${sum})`;
      body.push(`acc${r}_${c} = ${sum};`);
    }
  }
  const stores: string[] = [];
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const row = `m0 + ${r * lanesM}u`;
      const col = `n0 + ${c * lanesN}u`;
      stores.push(
        `if (${row} < ${m}u && ${col} < ${n}u) { ${
          storeWgsl(`acc${r}_${c}`, row, col, n, epilogue.bias)
        } }`,
      );
    }
  }
  const xType = vector ? "vec4<f32>" : "f32";
  const wType = f16 ? (vector ? "vec2<u32>" : "u32") : xType;
  return `
@group(0) @binding(0) var<storage, read> x: array<${xType}>;
@group(0) @binding(1) var<storage, read> w: array<${wType}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${epilogue.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${activationWgsl(epilogue.activation)}
@compute @workgroup_size(${lanesN}, ${lanesM})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let blockM = wg.y + wg.z * ${groupsY}u;
  let m0 = blockM * ${lanesM * R}u + lid.y;
  let n0 = wg.x * ${lanesN * C}u + lid.x;
  ${setup.join("\n  ")}
  for (var kk = 0u; kk < ${k}u; kk += ${step}u) {
    ${body.join("\n    ")}
  }
  ${stores.join("\n  ")}
}`;
}
