/**
 * GPU-shaped flash attention: the same three variants, operand layouts and extras as
 * shaders/attention.ts (full with scale / key mask / score bias, window with an optional
 * residual add, fused full + residual), with the work split the usual GPU way. A workgroup
 * owns `workgroupSize · queriesPerInvocation` consecutive queries of one (batch, head); each
 * invocation keeps its queries' q and accumulators in registers; per step the workgroup stages
 * `keyTile` k and v rows in workgroup memory (each row loaded once for the whole workgroup),
 * then every invocation scores its queries against the staged keys and accumulates the staged
 * values. The window variant visits only the key tiles that meet the band of the workgroup's
 * queries. Which family runs is measured per adapter (src/gpu/kernel_choice.ts).
 */

import type { AttentionKernelSpec } from "./attention.ts";
import { f32Literal } from "./common.ts";

/** Work split of the flash kernel. */
export interface FlashTiling {
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Queries per invocation (consecutive rows, `workgroupSize` apart). */
  queriesPerInvocation: number;
  /** Key rows staged in workgroup memory per step. */
  keyTile: number;
}

/** Workgroup-memory bytes of the staged k and v tiles. */
export function flashWorkgroupBytes(headDim: number, keyTile: number): number {
  return 2 * 4 * headDim * keyTile;
}

/**
 * 64 invocations, one query each, and `keyTile` keys per step: the direct kernel's key tile when
 * k and v of that many rows fit `workgroupBytes`, so that for full attention both kernels rescale
 * at the same keys and round alike; else the largest of 32, 16, 8 or 4 rows that fits (null when
 * not even 4 fit: the head is too wide for this kernel).
 */
export function defaultFlashTiling(
  headDim: number,
  workgroupBytes: number,
  maxInvocations: number,
  directKeyTile: number,
): FlashTiling | null {
  const keyTile = [directKeyTile, 32, 16, 8, 4].find((t) =>
    flashWorkgroupBytes(headDim, t) <= workgroupBytes
  );
  if (keyTile === undefined) return null;
  return { workgroupSize: Math.min(64, maxInvocations), queriesPerInvocation: 1, keyTile };
}

export function flashGroupCount(spec: {
  batch: number;
  heads: number;
  queries: number;
  flash: FlashTiling;
}): number {
  const perGroup = spec.flash.workgroupSize * spec.flash.queriesPerInvocation;
  return spec.batch * spec.heads * Math.ceil(spec.queries / perGroup);
}

const MASKED_SCORE = "-3.0e38";
const MAX_FLOOR = "-1.5e38";
const MASKED_KEY_BIAS = -10000;

/** WGSL of the flash kernel for `spec` (its `tiling` field is ignored: `flash` splits the work). */
export function flashAttentionWgsl(spec: AttentionKernelSpec, flash: FlashTiling): string {
  const { headDim: D, vectorWidth: V, window: w } = spec;
  const { workgroupSize: WG, queriesPerInvocation: R, keyTile: KT } = flash;
  if (D % V !== 0) throw new RangeError(`vector width ${V} does not divide head dim ${D}`);
  if ((spec.keyMask || spec.scoreBias) && spec.variant !== "full") {
    throw new RangeError(`a key mask or score bias needs the full variant, got ${spec.variant}`);
  }
  const vec = V === 1 ? "f32" : `vec${V}<f32>`;
  const splat = (x: string) => (V === 1 ? x : `${vec}(${x})`);
  const hsum = (x: string) =>
    V === 1 ? x : V === 2 ? `${x}.x + ${x}.y` : `(${x}.x + ${x}.y) + (${x}.z + ${x}.w)`;
  const u = (x: number) => `${x}u`;
  const perGroup = WG * R;
  const tiles = Math.ceil(spec.queries / perGroup);
  const groups = spec.batch * spec.heads * tiles;
  const C = D / V;
  const slots = [...Array(R).keys()];
  const cols = [...Array(C).keys()];
  const fused = spec.variant === "fused";
  const accumulators = fused ? ["f", "w"] : ["f"];
  const scale = f32Literal(
    Math.fround(spec.scale === undefined ? Math.LOG2E / Math.sqrt(D) : Math.LOG2E * spec.scale),
  );
  const maskBias = f32Literal(Math.fround((spec.maskedKeyBias ?? MASKED_KEY_BIAS) * Math.LOG2E));
  const log2e = f32Literal(Math.fround(Math.LOG2E));
  const rowIndex = (op: { rowStride: number; columnOffset: number }, rows: number, row: string) =>
    `(b * ${u(rows * op.rowStride)} + (${row}) * ${u(op.rowStride)} + ${u(op.columnOffset)} + ` +
    `h * ${u(D)}) / ${u(V)}`;
  const inBand = (r: number) => `key + ${u(w)} >= i${r} && key <= i${r} + ${u(w)}`;

  const setup: string[] = [];
  for (const r of slots) {
    setup.push(`let i${r} = min(qFirst + lid + ${u(r * WG)}, ${u(spec.queries - 1)});`);
    setup.push(`let qRow${r} = ${rowIndex(spec.q, spec.queries, `i${r}`)};`);
    for (const c of cols) setup.push(`let q${r}_${c} = qData[qRow${r} + ${u(c)}] * ${scale};`);
    if (spec.scoreBias) {
      setup.push(`let biasBase${r} = (h * ${u(spec.queries)} + i${r}) * ${u(spec.keys)};`);
    }
    setup.push(`var scores${r}: array<f32, ${KT}>;`);
    for (const a of accumulators) {
      setup.push(`var ${a}m${r} = ${MAX_FLOOR};`, `var ${a}l${r} = 0.0;`);
      for (const c of cols) setup.push(`var ${a}acc${r}_${c} = ${vec}(0.0);`);
    }
  }

  const score: string[] = [];
  for (const a of accumulators) for (const r of slots) score.push(`var ${a}Max${r} = ${a}m${r};`);
  score.push(`for (var t = 0u; t < ${u(KT)}; t++) {`);
  score.push(`  let key = j0 + t;`);
  score.push(`  let row = min(key, ${u(spec.keys - 1)});`);
  for (const c of cols) score.push(`  let k${c} = kTile[t * ${u(C)} + ${u(c)}];`);
  if (spec.keyMask) {
    score.push(`  let keyBias = (1.0 - maskData[b * ${u(spec.keys)} + row]) * ${maskBias};`);
  }
  for (const r of slots) {
    score.push(`  var dots${r} = q${r}_0 * k0;`);
    for (const c of cols.slice(1)) score.push(`  dots${r} = fma(q${r}_${c}, k${c}, dots${r});`);
    let s = hsum(`dots${r}`);
    if (spec.scoreBias) s = `fma(biasData[biasBase${r} + row], ${log2e}, ${s})`;
    if (spec.keyMask) s = `${s} + keyBias`;
    const valid = spec.variant === "window" ? `key < keyEnd && ${inBand(r)}` : "key < keyEnd";
    score.push(`  scores${r}[t] = select(${MASKED_SCORE}, ${s}, ${valid});`);
    score.push(`  fMax${r} = max(fMax${r}, scores${r}[t]);`);
    if (fused) {
      score.push(
        `  wMax${r} = max(wMax${r}, select(${MASKED_SCORE}, scores${r}[t], ${inBand(r)}));`,
      );
    }
  }
  score.push(`}`);
  for (const a of accumulators) {
    for (const r of slots) {
      score.push(`let ${a}Alpha${r} = exp2(${a}m${r} - ${a}Max${r});`);
      score.push(`${a}m${r} = ${a}Max${r};`, `${a}l${r} *= ${a}Alpha${r};`);
      for (const c of cols) score.push(`${a}acc${r}_${c} *= ${a}Alpha${r};`);
    }
  }
  score.push(`for (var t = 0u; t < ${u(KT)}; t++) {`);
  score.push(`  let key = j0 + t;`);
  for (const c of cols) score.push(`  let v${c} = vTile[t * ${u(C)} + ${u(c)}];`);
  for (const a of accumulators) {
    for (const r of slots) {
      const s = a === "w"
        ? `select(${MASKED_SCORE}, scores${r}[t], ${inBand(r)})`
        : `scores${r}[t]`;
      score.push(`  let ${a}p${r} = exp2(${s} - ${a}m${r});`, `  ${a}l${r} += ${a}p${r};`);
      for (const c of cols) {
        score.push(`  ${a}acc${r}_${c} = fma(${splat(`${a}p${r}`)}, v${c}, ${a}acc${r}_${c});`);
      }
    }
  }
  score.push(`}`);

  const store: string[] = [];
  for (const r of slots) {
    store.push(`if (qFirst + lid + ${u(r * WG)} < ${u(spec.queries)}) {`);
    store.push(`  let oRow = ${rowIndex(spec.out, spec.queries, `i${r}`)};`);
    for (const a of accumulators) store.push(`  let ${a}Inv = 1.0 / ${a}l${r};`);
    for (const c of cols) {
      const o = `facc${r}_${c} * fInv`;
      if (fused) {
        store.push(`  outData[oRow + ${u(c)}] = ${o};`);
        store.push(`  residualData[oRow + ${u(c)}] = ${o} - wacc${r}_${c} * wInv;`);
      } else if (spec.addResidual) {
        store.push(`  outData[oRow + ${u(c)}] = ${o} + residualData[oRow + ${u(c)}];`);
      } else {
        store.push(`  outData[oRow + ${u(c)}] = ${o};`);
      }
    }
    store.push(`}`);
  }

  const extras: string[] = [];
  if (fused) extras.push(`var<storage, read_write> residualData: array<${vec}>;`);
  else if (spec.addResidual) extras.push(`var<storage, read> residualData: array<${vec}>;`);
  if (spec.keyMask) extras.push(`var<storage, read> maskData: array<f32>;`);
  if (spec.scoreBias) extras.push(`var<storage, read> biasData: array<f32>;`);
  const extraBindings = extras.map((e, i) => `@group(0) @binding(${4 + i}) ${e}`).join("\n");
  // Key range of the workgroup (uniform): every key, or the union of its queries' bands.
  const lastQuery = `min(qFirst + ${u(perGroup - 1)}, ${u(spec.queries - 1)})`;
  const range = spec.variant === "window"
    ? [
      `let keyStart = select(0u, qFirst - ${u(w)}, qFirst > ${u(w)});`,
      `let keyEnd = min(${u(spec.keys)}, ${lastQuery} + ${u(w + 1)});`,
    ]
    : [`let keyStart = 0u;`, `let keyEnd = ${u(spec.keys)};`];
  const staged = C * KT;
  return `// flash attention ${spec.variant}: B=${spec.batch} H=${spec.heads} N=${spec.queries} ` +
    `L=${spec.keys} D=${D}${spec.variant === "full" ? "" : ` w=${w}`}` +
    `${spec.keyMask ? " key mask" : ""}${spec.scoreBias ? " score bias" : ""}` +
    ` ${WG}x${R} queries, ${KT} keys per step
@group(0) @binding(0) var<storage, read> qData: array<${vec}>;
@group(0) @binding(1) var<storage, read> kData: array<${vec}>;
@group(0) @binding(2) var<storage, read> vData: array<${vec}>;
@group(0) @binding(3) var<storage, read_write> outData: array<${vec}>;
${extraBindings}
var<workgroup> kTile: array<${vec}, ${staged}>;
var<workgroup> vTile: array<${vec}, ${staged}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * ${u(spec.groupsX)};
  if (group >= ${u(groups)}) { return; }
  let queryTile = group % ${u(tiles)};
  let h = (group / ${u(tiles)}) % ${u(spec.heads)};
  let b = group / ${u(tiles * spec.heads)};
  let qFirst = queryTile * ${u(perGroup)};
  ${range.join("\n  ")}
  ${setup.join("\n  ")}
  for (var j0 = keyStart; j0 < keyEnd; j0 += ${u(KT)}) {
    for (var e = lid; e < ${u(staged)}; e += ${u(WG)}) {
      let row = min(j0 + e / ${u(C)}, ${u(spec.keys - 1)});
      let c = e % ${u(C)};
      kTile[e] = kData[${rowIndex(spec.k, spec.keys, "row")} + c];
      vTile[e] = vData[${rowIndex(spec.v, spec.keys, "row")} + c];
    }
    workgroupBarrier();
    ${score.join("\n    ")}
    workgroupBarrier();
  }
  ${store.join("\n  ")}
}
`;
}
