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

import { type AttentionKernelSpec, attentionParts, MASKED_SCORE, MAX_FLOOR } from "./attention.ts";

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

/** WGSL of the flash kernel for `spec` (its `tiling` field is ignored: `flash` splits the work). */
export function flashAttentionWgsl(spec: AttentionKernelSpec, flash: FlashTiling): string {
  const { headDim: D, vectorWidth: V, window: w } = spec;
  const { workgroupSize: WG, queriesPerInvocation: R, keyTile: KT } = flash;
  const parts = attentionParts(spec, flash);
  const { vec, u, slots, cols, fused, accumulators, rowIndex, inBand } = parts;
  const perGroup = WG * R;
  const C = D / V;

  const setup: string[] = [];
  for (const r of slots) {
    setup.push(`let i${r} = min(qFirst + lid + ${u(r * WG)}, ${u(spec.queries - 1)});`);
    setup.push(`let qRow${r} = ${rowIndex(spec.q, spec.queries, `i${r}`)};`);
    for (const c of cols) {
      setup.push(`let q${r}_${c} = qData[qRow${r} + ${u(c)}] * ${parts.scale};`);
    }
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
  if (spec.keyMask) score.push(`  ${parts.keyBias}`);
  for (const r of slots) {
    score.push(`  var dots${r} = q${r}_0 * k0;`);
    for (const c of cols.slice(1)) score.push(`  dots${r} = fma(q${r}_${c}, k${c}, dots${r});`);
    const valid = spec.variant === "window" ? `key < keyEnd && ${inBand(r)}` : "key < keyEnd";
    score.push(`  scores${r}[t] = select(${MASKED_SCORE}, ${parts.score(r)}, ${valid});`);
    score.push(`  fMax${r} = max(fMax${r}, scores${r}[t]);`);
    if (fused) score.push(`  wMax${r} = max(wMax${r}, ${parts.windowScore(r)});`);
  }
  score.push(`}`);
  for (const a of accumulators) score.push(...parts.rescale(a));
  score.push(`for (var t = 0u; t < ${u(KT)}; t++) {`);
  score.push(`  let key = j0 + t;`);
  for (const c of cols) score.push(`  let v${c} = vTile[t * ${u(C)} + ${u(c)}];`);
  for (const a of accumulators) {
    const scoreOf = a === "w" ? parts.windowScore : (r: number) => `scores${r}[t]`;
    score.push(...parts.accumulateValues(a, scoreOf).map((line) => `  ${line}`));
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
${parts.bindings}
var<workgroup> kTile: array<${vec}, ${staged}>;
var<workgroup> vTile: array<${vec}, ${staged}>;

${parts.entry}
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
