/**
 * Flash-style attention kernels: softmax(q·kᵀ/√D)·v with an online softmax over key tiles, so no
 * score matrix is ever stored. Three variants share one tile body:
 * - `full`: every key;
 * - `window`: only keys with |i − j| ≤ w; each workgroup loops over the key range its queries'
 *   bands cover, so the cost follows 2w + 1 keys, not N (optionally adds a residual on store);
 * - `fused`: full output and residual = full − window in one pass, two online-softmax
 *   accumulators fed by the same scores.
 *
 * Operands are read through (row stride, column offset) pairs, so a packed qkv tensor, separate
 * q/k/v tensors or a packed kv tensor for cross-attention are all just parameters.
 */

import { f32Literal } from "./common.ts";

/** Where one operand's rows live inside its buffer (in elements). */
export interface OperandLayout {
  /** Elements between consecutive token rows. */
  rowStride: number;
  /** Element offset of head 0's first column inside a row (head h starts at + h·D). */
  columnOffset: number;
}

export type AttentionVariant = "full" | "window" | "fused";

/** Work split of the attention kernels; every field is baked into the WGSL. */
export interface AttentionTiling {
  /** Invocations per workgroup; adjacent queries go to adjacent invocations (SIMD lanes). */
  workgroupSize: number;
  /** Queries whose q and accumulators one invocation keeps in registers. */
  queriesPerInvocation: number;
  /** Keys scored before each online-softmax rescale. */
  keyTile: number;
}

export interface AttentionKernelSpec {
  variant: AttentionVariant;
  batch: number;
  heads: number;
  headDim: number;
  /** Query rows per batch element. */
  queries: number;
  /** Key/value rows per batch element (equal to `queries` for window and fused). */
  keys: number;
  q: OperandLayout;
  k: OperandLayout;
  v: OperandLayout;
  /** Layout of the output, and of the residual input/output when there is one. */
  out: OperandLayout;
  /** Band half-width w for `window` and `fused`. */
  window: number;
  /** `window` only: add binding 4 (a tensor laid out like the output) before storing. */
  addResidual: boolean;
  tiling: AttentionTiling;
  /** Elements per load (1, 2 or 4); must divide D and every stride and offset. */
  vectorWidth: 1 | 2 | 4;
  /** Workgroups along grid x (the rest of the flat group index goes to y). */
  groupsX: number;
}

/** Workgroups one launch needs: one per (batch, head, query tile). */
export function attentionGroupCount(spec: {
  batch: number;
  heads: number;
  queries: number;
  tiling: AttentionTiling;
}): number {
  const queriesPerGroup = spec.tiling.workgroupSize * spec.tiling.queriesPerInvocation;
  return spec.batch * spec.heads * Math.ceil(spec.queries / queriesPerGroup);
}

// A finite "minus infinity": WGSL implementations may assume no infinities, and max/exp2 of
// finite values is well defined everywhere.
const MASKED_SCORE = "-3.0e38";
// The running max starts above MASKED_SCORE, so exp2(masked − max) is 0 even before the first
// valid key, and no select is needed on the probabilities.
const MAX_FLOOR = "-1.5e38";

/** WGSL for one attention kernel as described by `spec`. */
export function attentionWgsl(spec: AttentionKernelSpec): string {
  const { headDim: D, tiling, vectorWidth: V } = spec;
  const { workgroupSize: WG, queriesPerInvocation: R, keyTile: KT } = tiling;
  if (D % V !== 0) throw new RangeError(`vector width ${V} does not divide head dim ${D}`);
  const vec = V === 1 ? "f32" : `vec${V}<f32>`;
  const dot = (a: string, b: string) => (V === 1 ? `${a} * ${b}` : `dot(${a}, ${b})`);
  const tiles = Math.ceil(spec.queries / (WG * R));
  const groups = spec.batch * spec.heads * tiles;
  const u = (x: number) => `${x}u`;
  // Scores are formed in log2 units so the softmax uses exp2.
  const scale = f32Literal(Math.fround(Math.LOG2E / Math.sqrt(D)));
  const slots = [...Array(R).keys()];
  const cols = [...Array(D / V).keys()];
  const w = spec.window;

  const rowBase = (op: OperandLayout, rows: number, row: string) =>
    `(b * ${u(rows * op.rowStride)} + (${row}) * ${u(op.rowStride)} + ${u(op.columnOffset)} + ` +
    `h * ${u(D)}) / ${u(V)}`;
  const inBand = (r: number) => `key + ${u(w)} >= i${r} && key <= i${r} + ${u(w)}`;

  // Keys [start, end) in tiles of KT. Per tile: every (slot, key) score into a private array
  // (masked keys get MASKED_SCORE) with the running max, one rescale per accumulator, then the
  // probability-weighted sum of v. Runtime loops over the tile's keys keep the code (and
  // lavapipe's compile time) independent of KT. Key ranges are loop bounds, not if-blocks:
  // lavapipe runs both sides of an if under a mask but leaves a loop once no lane is active.
  // `banded`: the band masks the scores themselves (window kernel); `withWindow`: a second
  // accumulator sees only the band (fused kernel).
  const tileLoop = (start: string, end: string, banded: boolean, withWindow: boolean): string => {
    const accs = withWindow ? ["f", "w"] : ["f"];
    const windowScore = (r: number) => `select(${MASKED_SCORE}, scores${r}[t], ${inBand(r)})`;
    const lines: string[] = [];
    lines.push(`{`);
    lines.push(`  let kEnd = ${end};`);
    lines.push(`  for (var j0 = ${start}; j0 < kEnd; j0 += ${u(KT)}) {`);
    for (const a of accs) for (const r of slots) lines.push(`    var ${a}Max${r} = ${a}m${r};`);
    lines.push(`    for (var t = 0u; t < ${u(KT)}; t++) {`);
    lines.push(`      let key = j0 + t;`);
    lines.push(`      let kRow = ${rowBase(spec.k, spec.keys, "min(key, kEnd - 1u)")};`);
    for (const c of cols) lines.push(`      let k${c} = kData[kRow + ${u(c)}];`);
    for (const r of slots) {
      const score = cols.map((c) => dot(`q${r}_${c}`, `k${c}`)).join(" + ");
      const valid = banded ? `key < kEnd && ${inBand(r)}` : "key < kEnd";
      lines.push(`      scores${r}[t] = select(${MASKED_SCORE}, ${score}, ${valid});`);
      lines.push(`      fMax${r} = max(fMax${r}, scores${r}[t]);`);
      if (withWindow) lines.push(`      wMax${r} = max(wMax${r}, ${windowScore(r)});`);
    }
    lines.push(`    }`);
    for (const a of accs) {
      for (const r of slots) {
        lines.push(`    let ${a}Alpha${r} = exp2(${a}m${r} - ${a}Max${r});`);
        lines.push(`    ${a}m${r} = ${a}Max${r};`);
        lines.push(`    ${a}l${r} *= ${a}Alpha${r};`);
        for (const c of cols) lines.push(`    ${a}acc${r}_${c} *= ${a}Alpha${r};`);
      }
    }
    lines.push(`    for (var t = 0u; t < ${u(KT)}; t++) {`);
    lines.push(`      let key = j0 + t;`);
    lines.push(`      let vRow = ${rowBase(spec.v, spec.keys, "min(key, kEnd - 1u)")};`);
    for (const c of cols) lines.push(`      let v${c} = vData[vRow + ${u(c)}];`);
    for (const a of accs) {
      for (const r of slots) {
        const score = a === "f" ? `scores${r}[t]` : windowScore(r);
        lines.push(`      let ${a}p${r} = exp2(${score} - ${a}m${r});`);
        lines.push(`      ${a}l${r} += ${a}p${r};`);
        for (const c of cols) lines.push(`      ${a}acc${r}_${c} += ${a}p${r} * v${c};`);
      }
    }
    lines.push(`    }`);
    lines.push(`  }`);
    lines.push(`}`);
    return lines.map((line) => "  " + line).join("\n");
  };

  // The band of the group's first and last query bounds the keys any of its queries sees.
  const bandStart = `select(0u, iFirst - ${u(w)}, iFirst > ${u(w)})`;
  const bandEnd = `min(${u(spec.keys)}, iLast + ${u(w + 1)})`;
  let loops: string;
  let accumulatorNames: ("f" | "w")[] = ["f"];
  if (spec.variant === "full") {
    loops = tileLoop("0u", u(spec.keys), false, false);
  } else if (spec.variant === "window") {
    loops = tileLoop(bandStart, bandEnd, true, false);
  } else {
    accumulatorNames = ["f", "w"];
    // Keys outside the group's band range feed only the full accumulator.
    loops = [
      tileLoop("0u", "bandStart", false, false),
      tileLoop("bandStart", "bandEnd", false, true),
      tileLoop("bandEnd", u(spec.keys), false, false),
    ].join("\n");
  }

  const setup: string[] = [];
  for (const r of slots) {
    setup.push(`let iRaw${r} = laneFirst + ${u(r)};`);
    // Lanes past the last query compute on a valid row and skip the store.
    setup.push(`let i${r} = min(iRaw${r}, ${u(spec.queries - 1)});`);
    setup.push(`let qRow${r} = ${rowBase(spec.q, spec.queries, `i${r}`)};`);
    for (const c of cols) setup.push(`let q${r}_${c} = qData[qRow${r} + ${u(c)}] * ${scale};`);
    setup.push(`var scores${r}: array<f32, ${KT}>;`);
    for (const n of accumulatorNames) {
      setup.push(`var ${n}m${r} = ${MAX_FLOOR};`);
      setup.push(`var ${n}l${r} = 0.0;`);
      for (const c of cols) setup.push(`var ${n}acc${r}_${c} = ${vec}(0.0);`);
    }
  }
  if (spec.variant === "fused") {
    setup.push(`let bandStart = ${bandStart};`);
    setup.push(`let bandEnd = ${bandEnd};`);
  }

  const store: string[] = [];
  for (const r of slots) {
    store.push(`if (iRaw${r} < ${u(spec.queries)}) {`);
    store.push(`  let oRow = ${rowBase(spec.out, spec.queries, `i${r}`)};`);
    store.push(`  let fInv = 1.0 / fl${r};`);
    if (spec.variant === "fused") store.push(`  let wInv = 1.0 / wl${r};`);
    for (const c of cols) {
      const o = `facc${r}_${c} * fInv`;
      if (spec.variant === "fused") {
        store.push(`  let o${c} = ${o};`);
        store.push(`  outData[oRow + ${u(c)}] = o${c};`);
        store.push(`  residualData[oRow + ${u(c)}] = o${c} - wacc${r}_${c} * wInv;`);
      } else if (spec.addResidual) {
        store.push(`  outData[oRow + ${u(c)}] = ${o} + residualData[oRow + ${u(c)}];`);
      } else {
        store.push(`  outData[oRow + ${u(c)}] = ${o};`);
      }
    }
    store.push(`}`);
  }

  const residualBinding = spec.variant === "fused"
    ? `@group(0) @binding(4) var<storage, read_write> residualData: array<${vec}>;`
    : spec.addResidual
    ? `@group(0) @binding(4) var<storage, read> residualData: array<${vec}>;`
    : "";
  const header = `attention ${spec.variant}: B=${spec.batch} H=${spec.heads} N=${spec.queries} ` +
    `L=${spec.keys} D=${D}` + (spec.variant === "full" ? "" : ` w=${w}`);
  return `// ${header}
@group(0) @binding(0) var<storage, read> qData: array<${vec}>;
@group(0) @binding(1) var<storage, read> kData: array<${vec}>;
@group(0) @binding(2) var<storage, read> vData: array<${vec}>;
@group(0) @binding(3) var<storage, read_write> outData: array<${vec}>;
${residualBinding}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * ${u(spec.groupsX)};
  if (group >= ${u(groups)}) { return; }
  let queryTile = group % ${u(tiles)};
  let h = (group / ${u(tiles)}) % ${u(spec.heads)};
  let b = group / ${u(tiles * spec.heads)};
  let laneFirst = (queryTile * ${u(WG)} + lid) * ${u(R)};
  let iFirst = min(laneFirst, ${u(spec.queries - 1)});
  let iLast = min(laneFirst + ${u(R - 1)}, ${u(spec.queries - 1)});
  ${setup.join("\n  ")}
${loops}
  ${store.join("\n  ")}
}
`;
}
