/**
 * Flash-style attention kernels: softmax(q·kᵀ/√D)·v with an online softmax over key tiles, so no
 * score matrix is ever stored (the `full` variant also takes another scale, a per-head additive
 * score bias and a key mask, for T5's self-attention). Three variants share one tile body:
 * - `full`: every key;
 * - `window`: only keys with |i − j| ≤ w; each invocation loops over the key range its own
 *   queries' bands cover, so the cost follows 2w + 1 keys, not N (optionally adds a residual
 *   on store);
 * - `fused`: full output and residual = full − window in one pass: two online-softmax
 *   accumulators (all keys / in-band keys) fed by the same scores.
 *
 * Operands are read through (row stride, column offset) pairs, so a packed qkv tensor, separate
 * q/k/v tensors or a packed kv tensor for cross-attention are all just parameters.
 *
 * Shape of the work, chosen on lavapipe (see bench/attention_report.ts): each invocation owns
 * `queriesPerInvocation` consecutive queries of one (batch, head) and keeps their q and
 * accumulators in registers. lavapipe turns every storage-buffer load whose address is not a
 * compile-time constant into a per-lane scalar loop, so a loaded k/v row costs the same whether
 * or not neighbouring lanes read the same row; what pays is reusing each loaded row for many
 * queries inside one invocation. Adjacent lanes therefore take adjacent query blocks, each with
 * its own key range.
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
  /** Invocations per workgroup (each owns its own block of queries). */
  workgroupSize: number;
  /** Consecutive queries whose q and accumulators one invocation keeps in registers. */
  queriesPerInvocation: number;
  /** Keys scored before each online-softmax rescale. */
  keyTile: number;
}

/** What one attention launch computes, apart from where its operands live. */
export interface AttentionProblem {
  variant: AttentionVariant;
  batch: number;
  heads: number;
  headDim: number;
  /** Query rows per batch element. */
  queries: number;
  /** Key/value rows per batch element (equal to `queries` for window and fused). */
  keys: number;
}

export interface AttentionKernelSpec extends AttentionProblem {
  q: OperandLayout;
  k: OperandLayout;
  v: OperandLayout;
  /** Layout of the output, and of the residual input/output when there is one. */
  out: OperandLayout;
  /** Band half-width w for `window` and `fused`. */
  window: number;
  /** `window` only: add binding 4 (a tensor laid out like the output) before storing. */
  addResidual: boolean;
  /**
   * `full` only: binding 4 holds a [B, L] key mask; key j of batch element b gets the score bias
   * (1 − mask[b, j])·maskedKeyBias (−10000 by default, as diffusers turns attention masks into
   * biases).
   */
  keyMask?: boolean;
  /** Bias in natural-log units that a masked key gets (default −10000, diffusers' value). */
  maskedKeyBias?: number;
  /**
   * `full` only: the next binding holds an additive score bias [H, N, L] (f32, shared by every
   * batch element): score(b, h, i, j) += bias[h, i, j], as T5's relative position bias.
   */
  scoreBias?: boolean;
  /** Factor on q·kᵀ (default 1/√D; T5 uses 1). */
  scale?: number;
  tiling: AttentionTiling;
  /** Elements per load (1, 2 or 4); must divide D and every stride and offset. */
  vectorWidth: 1 | 2 | 4;
  /** Workgroups along grid x (the rest of the flat group index goes to y). */
  groupsX: number;
}

/** Workgroups one launch needs: one invocation per (batch, head, block of queries). */
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
export const MASKED_SCORE = "-3.0e38";
// The running max starts above MASKED_SCORE, so exp2(masked − max) is 0 even before the first
// valid key, and no select is needed on the probabilities.
export const MAX_FLOOR = "-1.5e38";
// The bias of a masked key (natural-log units), as in diffusers' attention masks.
const MASKED_KEY_BIAS = -10000;

/** `x` as a WGSL u32 literal. */
const u = (x: number) => `${x}u`;

/**
 * The WGSL pieces both attention kernels (this one and shaders/attention_flash.ts) build from,
 * for `spec` split by `tiling`: vector helpers, scores in log2 units, operand row indices, the
 * online-softmax steps, the bindings and the entry point up to its (batch, head, query tile).
 */
export function attentionParts(spec: AttentionKernelSpec, tiling: AttentionTiling) {
  const { headDim: D, vectorWidth: V, window: w } = spec;
  const { workgroupSize: WG, queriesPerInvocation: R } = tiling;
  if (D % V !== 0) throw new RangeError(`vector width ${V} does not divide head dim ${D}`);
  if ((spec.keyMask || spec.scoreBias) && spec.variant !== "full") {
    throw new RangeError(`a key mask or score bias needs the full variant, got ${spec.variant}`);
  }
  const vec = V === 1 ? "f32" : `vec${V}<f32>`;
  const splat = (x: string) => (V === 1 ? x : `${vec}(${x})`);
  const hsum = (x: string) =>
    V === 1 ? x : V === 2 ? `${x}.x + ${x}.y` : `(${x}.x + ${x}.y) + (${x}.z + ${x}.w)`;
  const tiles = Math.ceil(spec.queries / (WG * R));
  const slots = [...Array(R).keys()];
  const cols = [...Array(D / V).keys()];
  const fused = spec.variant === "fused";
  const accumulators = fused ? ["f", "w"] : ["f"];
  const inBand = (r: number) => `key + ${u(w)} >= i${r} && key <= i${r} + ${u(w)}`;
  const maskBias = f32Literal(Math.fround((spec.maskedKeyBias ?? MASKED_KEY_BIAS) * Math.LOG2E));
  const log2e = f32Literal(Math.fround(Math.LOG2E));

  // Bindings after q, k, v and the output, in this order (the launcher binds them so).
  const extras: string[] = [];
  if (fused) extras.push(`var<storage, read_write> residualData: array<${vec}>;`);
  else if (spec.addResidual) extras.push(`var<storage, read> residualData: array<${vec}>;`);
  if (spec.keyMask) extras.push(`var<storage, read> maskData: array<f32>;`);
  if (spec.scoreBias) extras.push(`var<storage, read> biasData: array<f32>;`);
  return {
    vec,
    splat,
    hsum,
    u,
    slots,
    cols,
    fused,
    accumulators,
    // Scores are formed in log2 units so the softmax uses exp2.
    scale: f32Literal(
      Math.fround(spec.scale === undefined ? Math.LOG2E / Math.sqrt(D) : Math.LOG2E * spec.scale),
    ),
    /** The element index / V of head h's first column in row `row` of batch element b. */
    rowIndex: (op: OperandLayout, rows: number, row: string) =>
      `(b * ${u(rows * op.rowStride)} + (${row}) * ${u(op.rowStride)} + ${u(op.columnOffset)} + ` +
      `h * ${u(D)}) / ${u(V)}`,
    inBand,
    windowScore: (r: number) => `select(${MASKED_SCORE}, scores${r}[t], ${inBand(r)})`,
    /** `let keyBias` of key `row` (log2 units), for a kernel with a key mask. */
    keyBias: `let keyBias = (1.0 - maskData[b * ${u(spec.keys)} + row]) * ${maskBias};`,
    /** Slot r's score of the key `row` from its dot product `dots<r>` (bias and mask added). */
    score: (r: number) => {
      let score = hsum(`dots${r}`);
      if (spec.scoreBias) score = `fma(biasData[biasBase${r} + row], ${log2e}, ${score})`;
      if (spec.keyMask) score = `${score} + keyBias`;
      return score;
    },
    /** Rescales accumulator `a` of every slot to the running max `<a>Max<r>`. */
    rescale: (a: string) =>
      slots.flatMap((r) => [
        `let ${a}Alpha${r} = exp2(${a}m${r} - ${a}Max${r});`,
        `${a}m${r} = ${a}Max${r};`,
        `${a}l${r} *= ${a}Alpha${r};`,
        ...cols.map((c) => `${a}acc${r}_${c} *= ${a}Alpha${r};`),
      ]),
    /** Adds the probability-weighted row v into accumulator `a` of every slot. */
    accumulateValues: (a: string, score: (r: number) => string) =>
      slots.flatMap((r) => [
        `let ${a}p${r} = exp2(${score(r)} - ${a}m${r});`,
        `${a}l${r} += ${a}p${r};`,
        ...cols.map((c) =>
          `${a}acc${r}_${c} = fma(${splat(`${a}p${r}`)}, v${c}, ${a}acc${r}_${c});`
        ),
      ]),
    bindings: `@group(0) @binding(0) var<storage, read> qData: array<${vec}>;
@group(0) @binding(1) var<storage, read> kData: array<${vec}>;
@group(0) @binding(2) var<storage, read> vData: array<${vec}>;
@group(0) @binding(3) var<storage, read_write> outData: array<${vec}>;
${extras.map((e, i) => `@group(0) @binding(${4 + i}) ${e}`).join("\n")}`,
    /** The entry point's opening: one workgroup per (batch b, head h, queryTile). */
    entry: `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * ${u(spec.groupsX)};
  if (group >= ${u(spec.batch * spec.heads * tiles)}) { return; }
  let queryTile = group % ${u(tiles)};
  let h = (group / ${u(tiles)}) % ${u(spec.heads)};
  let b = group / ${u(tiles * spec.heads)};`,
  };
}

/** WGSL for one attention kernel as described by `spec`. */
export function attentionWgsl(spec: AttentionKernelSpec): string {
  const { tiling, window: w } = spec;
  const { workgroupSize: WG, queriesPerInvocation: R, keyTile: KT } = tiling;
  const parts = attentionParts(spec, tiling);
  const { vec, slots, cols, fused, accumulators, rowIndex, inBand, windowScore } = parts;

  // Tiles of KT keys over positions [start, end), position x meaning key `keyOf(x)`. Per tile:
  // every (slot, key) score into a private array (masked keys get MASKED_SCORE) with the
  // running max, one rescale, then the probability-weighted sum of v. Runtime loops over the
  // tile's keys keep the code (and lavapipe's compile time, which grows with code size)
  // independent of KT. Ranges are loop bounds, never if-blocks: lavapipe runs both sides of an
  // if under a lane mask, but a loop stops once no lane is active.
  // `banded`: the band masks the scores (window kernel); `withWindow`: a second accumulator
  // sees only the in-band keys (fused kernel).
  const tileLoop = (
    start: string,
    end: string,
    keyOf: (x: string) => string,
    banded: boolean,
    withWindow: boolean,
  ): string => {
    const accs = withWindow ? ["f", "w"] : ["f"];
    const keyLines = [
      `let x = j0 + t;`,
      `let key = ${keyOf("x")};`,
      // Positions past the end (last tile, or a loop with no positions for this lane) read a
      // valid row; their scores are masked.
      `let row = min(${keyOf("min(x, xEnd - 1u)")}, ${u(spec.keys - 1)});`,
    ];
    const lines: string[] = [];
    lines.push(`{`);
    lines.push(`  let xEnd = ${end};`);
    lines.push(`  for (var j0 = ${start}; j0 < xEnd; j0 += ${u(KT)}) {`);
    for (const a of accs) for (const r of slots) lines.push(`    var ${a}Max${r} = ${a}m${r};`);
    lines.push(`    for (var t = 0u; t < ${u(KT)}; t++) {`);
    lines.push(...keyLines.map((line) => "      " + line));
    lines.push(`      let kRow = ${rowIndex(spec.k, spec.keys, "row")};`);
    for (const c of cols) lines.push(`      let k${c} = kData[kRow + ${u(c)}];`);
    if (spec.keyMask) lines.push(`      ${parts.keyBias}`);
    // Slot-interleaved vector FMAs: R·V independent accumulation chains rather than one long
    // dot-product chain per score.
    for (const r of slots) lines.push(`      var dots${r} = q${r}_0 * k0;`);
    for (const c of cols.slice(1)) {
      for (const r of slots) lines.push(`      dots${r} = fma(q${r}_${c}, k${c}, dots${r});`);
    }
    for (const r of slots) {
      const valid = banded ? `x < xEnd && ${inBand(r)}` : "x < xEnd";
      lines.push(`      scores${r}[t] = select(${MASKED_SCORE}, ${parts.score(r)}, ${valid});`);
      lines.push(`      fMax${r} = max(fMax${r}, scores${r}[t]);`);
      if (withWindow) lines.push(`      wMax${r} = max(wMax${r}, ${windowScore(r)});`);
    }
    lines.push(`    }`);
    for (const a of accs) lines.push(...parts.rescale(a).map((line) => "    " + line));
    lines.push(`    for (var t = 0u; t < ${u(KT)}; t++) {`);
    lines.push(...keyLines.map((line) => "      " + line));
    lines.push(`      let vRow = ${rowIndex(spec.v, spec.keys, "row")};`);
    for (const c of cols) lines.push(`      let v${c} = vData[vRow + ${u(c)}];`);
    lines.push(
      ...parts.accumulateValues("f", (r) => `scores${r}[t]`).map((line) => "      " + line),
    );
    if (withWindow) {
      lines.push(...parts.accumulateValues("w", windowScore).map((line) => "      " + line));
    }
    lines.push(`    }`);
    lines.push(`  }`);
    lines.push(`}`);
    return lines.map((line) => "  " + line).join("\n");
  };

  // The bands of the invocation's first and last query bound the keys any of its queries sees.
  const bandStart = `select(0u, iFirst - ${u(w)}, iFirst > ${u(w)})`;
  const bandEnd = `min(${u(spec.keys)}, iLast + ${u(w + 1)})`;
  const identity = (x: string) => x;
  let loops: string;
  if (spec.variant === "full") {
    loops = tileLoop("0u", u(spec.keys), identity, false, false);
  } else if (spec.variant === "window") {
    loops = tileLoop("bandStart", "bandEnd", identity, true, false);
  } else {
    // Keys outside the invocation's band range feed only the full accumulator: one loop over
    // them with the band range cut out, one over the band range feeding both.
    const skipBand = (x: string) => `select(${x}, ${x} + bandLength, ${x} >= bandStart)`;
    loops = [
      tileLoop("0u", `${u(spec.keys)} - bandLength`, skipBand, false, false),
      tileLoop("bandStart", "bandEnd", identity, false, true),
    ].join("\n");
  }

  // q is loaded, and results stored, G slots per iteration of a runtime loop that moves values
  // in and out of the per-slot registers with selects: lavapipe expands every storage access
  // into a per-lane loop, and R·D/V unrolled accesses made compilation several times slower;
  // G = 4 keeps the selects (R²·D/(V·G)) well below one key tile's work.
  const G = R % 4 === 0 ? 4 : R % 2 === 0 ? 2 : 1;
  const groupSlots = [...Array(G).keys()];
  const setup: string[] = [];
  for (const r of slots) {
    // Slots past the last query compute on a valid row and skip the store.
    setup.push(`let i${r} = min(laneFirst + ${u(r)}, ${u(spec.queries - 1)});`);
    if (spec.scoreBias) {
      setup.push(`let biasBase${r} = (h * ${u(spec.queries)} + i${r}) * ${u(spec.keys)};`);
    }
    for (const c of cols) setup.push(`var q${r}_${c} = ${vec}(0.0);`);
    setup.push(`var scores${r}: array<f32, ${KT}>;`);
    for (const a of accumulators) {
      setup.push(`var ${a}m${r} = ${MAX_FLOOR};`);
      setup.push(`var ${a}l${r} = 0.0;`);
      for (const c of cols) setup.push(`var ${a}acc${r}_${c} = ${vec}(0.0);`);
    }
  }
  setup.push(`for (var first = 0u; first < ${u(R)}; first += ${u(G)}) {`);
  for (const g of groupSlots) {
    const row = rowIndex(
      spec.q,
      spec.queries,
      `min(laneFirst + first + ${u(g)}, ${u(spec.queries - 1)})`,
    );
    setup.push(`  let qRow${g} = ${row};`);
    for (const c of cols) {
      setup.push(`  let q${g}x${c} = qData[qRow${g} + ${u(c)}] * ${parts.scale};`);
    }
  }
  for (const r of slots) {
    for (const c of cols) {
      setup.push(`  q${r}_${c} = select(q${r}_${c}, q${r % G}x${c}, first == ${u(r - (r % G))});`);
    }
  }
  setup.push(`}`);

  const store: string[] = [];
  store.push(`for (var first = 0u; first < ${u(R)}; first += ${u(G)}) {`);
  for (const g of groupSlots) {
    for (const a of accumulators) {
      store.push(`  var ${a}Sum${g} = ${a}l${g};`);
      for (const c of cols) store.push(`  var ${a}${g}x${c} = ${a}acc${g}_${c};`);
      for (let r = g + G; r < R; r += G) {
        const pick = `first == ${u(r - g)}`;
        store.push(`  ${a}Sum${g} = select(${a}Sum${g}, ${a}l${r}, ${pick});`);
        for (const c of cols) {
          store.push(`  ${a}${g}x${c} = select(${a}${g}x${c}, ${a}acc${r}_${c}, ${pick});`);
        }
      }
    }
    store.push(`  let i${g}x = laneFirst + first + ${u(g)};`);
    store.push(`  if (i${g}x < ${u(spec.queries)}) {`);
    store.push(`    let oRow = ${rowIndex(spec.out, spec.queries, `i${g}x`)};`);
    for (const a of accumulators) store.push(`    let ${a}Inv = 1.0 / ${a}Sum${g};`);
    for (const c of cols) {
      const o = `f${g}x${c} * fInv`;
      if (fused) {
        store.push(`    let o${c} = ${o};`);
        store.push(`    outData[oRow + ${u(c)}] = o${c};`);
        store.push(`    residualData[oRow + ${u(c)}] = o${c} - w${g}x${c} * wInv;`);
      } else if (spec.addResidual) {
        store.push(`    outData[oRow + ${u(c)}] = ${o} + residualData[oRow + ${u(c)}];`);
      } else {
        store.push(`    outData[oRow + ${u(c)}] = ${o};`);
      }
    }
    store.push(`  }`);
  }
  store.push(`}`);

  const header = `attention ${spec.variant}: B=${spec.batch} H=${spec.heads} N=${spec.queries} ` +
    `L=${spec.keys} D=${spec.headDim}` + (spec.variant === "full" ? "" : ` w=${w}`) +
    (spec.keyMask ? " key mask" : "") + (spec.scoreBias ? " score bias" : "") +
    (spec.scale === undefined ? "" : ` scale ${spec.scale}`) +
    ` tiling ${WG}x${R}, key tile ${KT}`;
  return `// ${header}
${parts.bindings}

${parts.entry}
  let laneFirst = (queryTile * ${u(WG)} + lid) * ${u(R)};
  let iFirst = min(laneFirst, ${u(spec.queries - 1)});
  let iLast = min(laneFirst + ${u(R - 1)}, ${u(spec.queries - 1)});
  let bandStart = ${bandStart};
  let bandEnd = ${bandEnd};
  let bandLength = bandEnd - bandStart;
  ${setup.join("\n  ")}
${loops}
  ${store.join("\n  ")}
}
`;
}
