/**
 * 2D convolution (NCHW, square kernel k ∈ {1, 3}, stride 1, zero padding (k − 1)/2) as an implicit
 * matrix product over storage textures, the layout lavapipe loads fastest (see shaders/linear.ts).
 *
 * - `packConvInputWgsl` copies the input into a 3D rgba32float texture of texel (t, px, z): the
 *   four channels 4t..4t+3 at padded column px, z = sample·(H + 2p) + padded row, with the zero
 *   border written out so the product never tests bounds. It can fold the producer of the input
 *   into the copy: a group norm's apply step (with SiLU) and a nearest ×2 upsample, so neither
 *   result is ever stored as a tensor.
 * - `packConvWeightWgsl` lays a [Cout, Cin, k, k] weight out as one texture row per output
 *   channel, texel (tap·CT + t) holding input channels 4t..4t+3 of tap = ky·k + kx.
 * - `conv2dWgsl`: a workgroup is one SIMD vector of `lanes` invocations. All lanes work on the
 *   same `pixelsPerLane` consecutive output pixels of one row (their input texels are uniform:
 *   one load serves the vector) and each lane owns `channelsPerLane` output channels strided by
 *   the lane count (one gathered load per weight texel). Per input-channel texel and kernel row
 *   it loads R + k − 1 input texels and reuses them for all k horizontal taps.
 *
 * Measured on lavapipe: the same product reading its input from a storage buffer (uniform
 * addresses, NHWC4 layout) ran 2.4× slower than through the texture, which is why every conv
 * pays for a pack pass (5–10% of a VAE decode, bound by texture stores).
 */

import { f32Literal } from "./common.ts";

/** Register tile of one conv invocation. */
export interface ConvTile {
  /** Consecutive output pixels of one row (shared by the workgroup's lanes). */
  pixelsPerLane: number;
  /** Output channels per lane, strided by the lane count. */
  channelsPerLane: number;
  /** Input-channel texels (4 channels each) consumed per loop iteration. */
  texelsPerStep: number;
}

/** Where the packed texels come from, and what is applied on the way. */
export interface ConvInputSpec {
  /** Channels of the input tensor (per sample). */
  channels: number;
  /** Spatial size of the conv input (after the optional upsample). */
  height: number;
  width: number;
  /** Zero border width (k − 1)/2. */
  padding: number;
  /** Memory order of the source: NCHW, or channels-last [B, H·W, C] (attention tokens). */
  layout: "nchw" | "nhwc";
  /** Source pixels are read at (y/2, x/2): a nearest ×2 upsample folded into the pack. */
  upsample: boolean;
  /** Group norm apply (stats per sample and group, affine per channel) then optional SiLU. */
  normalize: { groups: number; silu: boolean } | null;
}

/** One pack dispatch: `sampleCount` samples and channels [channelBase, +channelCount). */
export interface ConvPackSlab {
  sampleCount: number;
  channelBase: number;
  channelCount: number;
  /** First sample of the slab within the batch (group-norm statistics are indexed by it). */
  sampleBase: number;
}

export const CONV_PACK_WORKGROUP = 64;

/** Texels per pixel for `channels` input channels. */
export function channelTexels(channels: number): number {
  return Math.ceil(channels / 4);
}

/**
 * A pack kernel after its `declarations`: invocation x of the grid packs item x (< `items`) of
 * row y, slice z, in CONV_PACK_WORKGROUP-wide workgroups; `body` sees `gid`.
 */
function packKernel(declarations: string, items: number, body: string): string {
  return `${declarations}
@compute @workgroup_size(${CONV_PACK_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= ${items}u) { return; }
${body}
}`;
}

/** Source pixels one pack invocation reads along a row (one vec4 per channel when aligned). */
const PACK_PIXELS = 4;

/** Workgroup grid of a pack dispatch: pixel quads × texels × (samples · padded rows). */
export function packConvInputGrid(
  input: ConvInputSpec,
  slab: ConvPackSlab,
): [number, number, number] {
  const sourceWidth = input.upsample ? input.width / 2 : input.width;
  return [
    Math.ceil(Math.ceil(sourceWidth / PACK_PIXELS) / CONV_PACK_WORKGROUP),
    channelTexels(slab.channelCount),
    slab.sampleCount * (input.height + 2 * input.padding),
  ];
}

/**
 * Bindings: 0 source slab (the slab's samples and channels only), 1 destination texture,
 * then with `normalize`: 2 statistics [B·G, 2] (mean, 1/σ) of the whole batch, 3 γ [C], 4 β [C].
 * `slab.channelBase` must be a multiple of 4 unless it is the only slab.
 *
 * An invocation covers 4 source pixels of one padded output row and one channel texel: the
 * channel's normalisation coefficients are formed once for the 4 pixels, and NCHW rows whose
 * width is a multiple of 4 load one vec4 per channel. Border rows and columns store zeros.
 * (lavapipe's texture stores, ~30 ns per texel here, bound this kernel, not its loads.)
 */
export function packConvInputWgsl(input: ConvInputSpec, slab: ConvPackSlab): string {
  const { channels, height, width, padding: p } = input;
  const paddedWidth = width + 2 * p;
  const paddedHeight = height + 2 * p;
  const sourceHeight = input.upsample ? height / 2 : height;
  const sourceWidth = input.upsample ? width / 2 : width;
  if (!Number.isInteger(sourceHeight) || !Number.isInteger(sourceWidth)) {
    throw new RangeError(`conv pack: upsampled size ${height}×${width} is not even`);
  }
  const count = slab.channelCount;
  const plane = sourceHeight * sourceWidth;
  const quads = Math.ceil(sourceWidth / PACK_PIXELS);
  const vectorRows = input.layout === "nchw" && sourceWidth % 4 === 0;
  const lines: string[] = [];
  const pixels = [0, 1, 2, 3];
  if (input.layout === "nchw") {
    // values{i} = channel 4t + i at the 4 pixels, later transposed into 4 texels.
    for (let i = 0; i < 4; i++) {
      lines.push(`let c${i} = min(t * 4u + ${i}u, ${count - 1}u);`);
      lines.push(`let row${i} = (zb * ${count}u + c${i}) * ${plane}u + sy * ${sourceWidth}u;`);
      if (vectorRows) {
        lines.push(`var values${i} = src4[(row${i} + sx0) / 4u];`);
      } else {
        const loads = pixels.map((j) => `src[row${i} + min(sx0 + ${j}u, ${sourceWidth - 1}u)]`);
        lines.push(`var values${i} = vec4<f32>(${loads.join(", ")});`);
      }
      if (input.normalize) {
        const groupSize = channels / input.normalize.groups;
        // The statistics and affine parameters are indexed by the channel in the whole tensor.
        lines.push(`let g${i} = min(${slab.channelBase}u + c${i}, ${channels - 1}u);`);
        lines.push(
          `let s${i} = stats[(${slab.sampleBase}u + zb) * ${input.normalize.groups}u + g${i} / ${groupSize}u];`,
        );
        lines.push(`let scale${i} = s${i}.y * gamma[g${i}];`);
        lines.push(`values${i} = values${i} * scale${i} + (beta[g${i}] - s${i}.x * scale${i});`);
        // v / (1 + e^−v): for very negative v the exponential overflows to inf and the quotient
        // is the correct −0 instead of NaN.
        if (input.normalize.silu) {
          lines.push(`values${i} = values${i} / (vec4<f32>(1.0) + exp(-values${i}));`);
        }
      }
      lines.push(`values${i} = select(vec4<f32>(0.0), values${i}, t * 4u + ${i}u < ${count}u);`);
    }
    for (const j of pixels) {
      const parts = [0, 1, 2, 3].map((i) => `values${i}[${j}]`);
      lines.push(`let texel${j} = select(zero, vec4<f32>(${parts.join(", ")}), rowInside);`);
    }
  } else {
    for (const j of pixels) {
      const base = `(zb * ${plane}u + sy * ${sourceWidth}u + min(sx0 + ${j}u, ${
        sourceWidth - 1
      }u)) * ${count}u`;
      const loads = [0, 1, 2, 3].map((i) =>
        `select(0.0, src[${base} + min(t * 4u + ${i}u, ${count - 1}u)], t * 4u + ${i}u < ${count}u)`
      );
      lines.push(`let texel${j} = select(zero, vec4<f32>(${loads.join(", ")}), rowInside);`);
    }
  }
  const texel = `${slab.channelBase / 4}u + t`;
  for (const j of pixels) {
    const stores = input.upsample
      ? [0, 1].map((dx) =>
        `textureStore(dst, vec3<u32>(${texel}, ${p + dx}u + 2u * (sx0 + ${j}u), gid.z), texel${j});`
      )
      : [`textureStore(dst, vec3<u32>(${texel}, ${p}u + sx0 + ${j}u, gid.z), texel${j});`];
    const guard = sourceWidth % PACK_PIXELS === 0 ? "" : `if (sx0 + ${j}u < ${sourceWidth}u) `;
    lines.push(`${guard}{ ${stores.join(" ")} }`);
  }
  if (p > 0) {
    lines.push(`if (q == 0u) { textureStore(dst, vec3<u32>(${texel}, 0u, gid.z), zero); }`);
    lines.push(
      `if (q == ${quads - 1}u) { textureStore(dst, vec3<u32>(${texel}, ${
        paddedWidth - 1
      }u, gid.z), zero); }`,
    );
  }
  const normalizeBindings = input.normalize
    ? `@group(0) @binding(2) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;`
    : "";
  const sourceBinding = vectorRows
    ? "@group(0) @binding(0) var<storage, read> src4: array<vec4<f32>>;"
    : "@group(0) @binding(0) var<storage, read> src: array<f32>;";
  const rowScale = input.upsample ? " / 2u" : "";
  const declarations = `// conv pack ${input.layout} C=${channels} ${height}x${width} p=${p}${
    input.upsample ? " up2" : ""
  }${input.normalize ? ` gn${input.normalize.groups}${input.normalize.silu ? "+silu" : ""}` : ""}
${sourceBinding}
@group(0) @binding(1) var dst: texture_storage_3d<rgba32float, write>;
${normalizeBindings}`;
  return packKernel(
    declarations,
    quads,
    `  let q = gid.x;
  let t = gid.y;
  let zb = gid.z / ${paddedHeight}u;
  let py = gid.z % ${paddedHeight}u;
  let rowInside = py >= ${p}u && py < ${height + p}u;
  // Border rows read a clamped interior row and store zeros.
  let sy = min(max(py, ${p}u) - ${p}u, ${height - 1}u)${rowScale};
  let sx0 = q * ${PACK_PIXELS}u;
  let zero = vec4<f32>(0.0);
  ${lines.join("\n  ")}`,
  );
}

/** Shape of a weight pack: [cout, cin, k, k] into (k²·CT) × cout texels. */
export interface ConvWeightShape {
  outChannels: number;
  inChannels: number;
  kernelSize: number;
  /**
   * Element type of the weight buffer (default f32). f16 weights are read as u32 words and
   * widened with unpack2x16float, so they need no shader-f16 feature; the texture is f32 either
   * way.
   */
  source?: "f32" | "f16";
}

/** Bindings: 0 weight [Cout, Cin, k, k] f32 or f16, 1 texture. Grid [ceil(k²·CT / 64), Cout]. */
export function packConvWeightWgsl(shape: ConvWeightShape): string {
  const { inChannels: cin, kernelSize: k } = shape;
  const taps = k * k;
  const ct = channelTexels(cin);
  const half = shape.source === "f16";
  const load = half
    ? `fn weightAt(i: u32) -> f32 { return unpack2x16float(w[i >> 1u])[i & 1u]; }`
    : `fn weightAt(i: u32) -> f32 { return w[i]; }`;
  const declarations = `
@group(0) @binding(0) var<storage, read> w: array<${half ? "u32" : "f32"}>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
${load}`;
  return packKernel(
    declarations,
    taps * ct,
    `  let texel = gid.x;
  let co = gid.y;
  let tap = texel / ${ct}u;
  let t = texel % ${ct}u;
  var v = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let ci = t * 4u + i;
    let value = weightAt((co * ${cin}u + min(ci, ${cin - 1}u)) * ${taps}u + tap);
    v[i] = select(0.0, value, ci < ${cin}u);
  }
  textureStore(dst, vec2<u32>(texel, co), v);`,
  );
}

/** The slice of the problem one conv dispatch covers. */
export interface ConvDispatchShape {
  inChannels: number;
  /** Output channels of the whole layer (rows of the weight texture). */
  outChannels: number;
  kernelSize: number;
  height: number;
  width: number;
  /** Output channels [channelBase, +channelCount) of samples [0, samples) of the bound slab. */
  channelBase: number;
  channelCount: number;
  samples: number;
  /** Invocations per workgroup = SIMD lanes of the adapter. */
  lanes: number;
}

export interface ConvEpilogue {
  bias: boolean;
  /** Add a tensor laid out like the output slab (a residual connection). */
  residual: boolean;
  /** Last: clamp(y·scale + shift, min, max) (a decoder's map to [0, 1] pixels). */
  outputMap: ConvOutputMap | null;
}

export interface ConvOutputMap {
  scale: number;
  shift: number;
  min: number;
  max: number;
}

const MAX_GROUPS = 65535;

/** Grid of a conv dispatch: [pixel tiles, channel blocks, samples · tile-row splits]. */
export function conv2dGrid(shape: ConvDispatchShape, tile: ConvTile): [number, number, number] {
  const tiles = Math.ceil(shape.width / tile.pixelsPerLane) * shape.height;
  const x = Math.min(tiles, MAX_GROUPS);
  const split = Math.ceil(tiles / x);
  return [
    x,
    Math.ceil(shape.channelCount / (shape.lanes * tile.channelsPerLane)),
    shape.samples * split,
  ];
}

/**
 * Bindings: 0 packed input texture (the dispatch's samples at z = sample·(H + 2p)), 1 packed
 * weight texture, 2 output slab, then bias [Cout] and the residual slab, each when used.
 */
export function conv2dWgsl(
  shape: ConvDispatchShape,
  tile: ConvTile,
  epilogue: ConvEpilogue,
): string {
  const { pixelsPerLane: R, channelsPerLane: C, texelsPerStep: KB } = tile;
  const { kernelSize: k, height, width, lanes } = shape;
  const p = (k - 1) / 2;
  const ct = channelTexels(shape.inChannels);
  if (ct % KB !== 0) {
    throw new RangeError(`conv: texelsPerStep ${KB} does not divide ${ct} channel texels`);
  }
  const [groupsX, , groupsZ] = conv2dGrid(shape, tile);
  const split = groupsZ / shape.samples;
  const tilesPerRow = Math.ceil(width / R);
  const span = R + k - 1;
  const paddedHeight = height + 2 * p;
  const setup: string[] = [];
  for (let j = 0; j < span; j++) {
    // Pixels past the row's end load a clamped texel; their outputs are never stored.
    setup.push(`let px${j} = min(x0 + ${j}u, ${width + 2 * p - 1}u);`);
  }
  for (let c = 0; c < C; c++) {
    setup.push(
      `let wr${c} = ${shape.channelBase}u + min(n0 + ${c * lanes}u, ${shape.channelCount - 1}u);`,
    );
  }
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) setup.push(`var acc${r}_${c} = 0.0;`);

  const body: string[] = [];
  for (let j = 0; j < KB; j++) {
    for (let s = 0; s < span; s++) {
      body.push(`let x${s}_${j} = textureLoad(xTexels, vec3<u32>(t + ${j}u, px${s}, z));`);
    }
    for (let kx = 0; kx < k; kx++) {
      for (let c = 0; c < C; c++) {
        body.push(
          `let w${kx}_${c}_${j} = textureLoad(wTexels, vec2<u32>(tapBase + ${
            kx * ct + j
          }u + t, wr${c}));`,
        );
      }
    }
  }
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      // One chained update per accumulator per iteration (lavapipe blends every loop-carried
      // write with the loop mask; see shaders/linear.ts).
      let sum = `acc${r}_${c}`;
      for (let j = 0; j < KB; j++) {
        for (let kx = 0; kx < k; kx++) {
          for (const q of "xyzw") sum = `fma(x${r + kx}_${j}.${q}, w${kx}_${c}_${j}.${q}, ${sum})`;
        }
      }
      body.push(`acc${r}_${c} = ${sum};`);
    }
  }

  const plane = height * width;
  const stores: string[] = [];
  for (let c = 0; c < C; c++) {
    stores.push(`if (n0 + ${c * lanes}u < ${shape.channelCount}u) {`);
    stores.push(
      `  let o${c} = (sample * ${shape.channelCount}u + n0 + ${
        c * lanes
      }u) * ${plane}u + oy * ${width}u + x0;`,
    );
    if (epilogue.bias) stores.push(`  let b${c} = bias[wr${c}];`);
    for (let r = 0; r < R; r++) {
      let value = `acc${r}_${c}`;
      if (epilogue.bias) value += ` + b${c}`;
      if (epilogue.residual) value += ` + residual[o${c} + ${r}u]`;
      const map = epilogue.outputMap;
      if (map) {
        value = `clamp((${value}) * ${f32Literal(Math.fround(map.scale))} + ${
          f32Literal(Math.fround(map.shift))
        }, ${f32Literal(map.min)}, ${f32Literal(map.max)})`;
      }
      const guard = r === 0 && width % R === 0 ? "" : `if (x0 + ${r}u < ${width}u) `;
      stores.push(`  ${guard}{ y[o${c} + ${r}u] = ${value}; }`);
    }
    stores.push(`}`);
  }
  return `// conv2d k=${k} ${shape.inChannels}->${shape.outChannels} ${height}x${width} tile ${R}x${C}x${KB}
@group(0) @binding(0) var xTexels: texture_storage_3d<rgba32float, read>;
@group(0) @binding(1) var wTexels: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${epilogue.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${
    epilogue.residual
      ? `@group(0) @binding(${epilogue.bias ? 4 : 3}) var<storage, read> residual: array<f32>;`
      : ""
  }
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let tileIndex = wg.x + (wg.z % ${split}u) * ${groupsX}u;
  if (tileIndex >= ${tilesPerRow * height}u) { return; }
  let sample = wg.z / ${split}u;
  let oy = tileIndex / ${tilesPerRow}u;
  let x0 = (tileIndex % ${tilesPerRow}u) * ${R}u;
  let n0 = wg.y * ${lanes * C}u + lane;
  ${setup.join("\n  ")}
  for (var ky = 0u; ky < ${k}u; ky++) {
    let z = sample * ${paddedHeight}u + oy + ky;
    let tapBase = ky * ${k * ct}u;
    for (var t = 0u; t < ${ct}u; t += ${KB}u) {
      ${body.join("\n      ")}
    }
  }
  ${stores.join("\n  ")}
}`;
}
