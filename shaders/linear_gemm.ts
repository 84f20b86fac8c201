/**
 * GPU-shaped linear kernel: y = act(x·Wᵀ + b), x [M, K] f32, W [N, K] f32 or f16, from storage
 * buffers through workgroup memory. Each workgroup computes a BM × BN output tile (64 × 64 by
 * default: 16 × 16 invocations, 4 × 4 outputs each); per step of BK k values the workgroup loads
 * the x and W slices once (vec4 loads along K; f16 weights as 4 halves in a vec2<u32>, unpacked
 * in registers) into workgroup memory, transposed so that each invocation reads its 4 rows and
 * its 4 columns as one vec4 each per k, and does 16 multiply-adds per two workgroup loads.
 * This is the usual shape for GPUs; on CPU adapters the texture kernel (shaders/linear.ts) is
 * the fast one. Which runs is measured per adapter (src/gpu/kernel_choice.ts).
 */

import type { LinearEpilogue } from "./linear.ts";
import { activationWgsl } from "./linear.ts";

/** Work split of the gemm kernel. */
export interface GemmTile {
  /** Invocations along N and along M; each owns 4 × 4 outputs. */
  lanesN: number;
  lanesM: number;
  /** k values staged per step (a multiple of 4). */
  kStep: number;
}

export interface GemmLinearShape {
  m: number;
  n: number;
  k: number;
  weight: "f32" | "f16";
  tile: GemmTile;
}

/** Outputs per invocation along M and along N (the vec4 of the workgroup-memory reads). */
const PER_LANE = 4;
const MAX_GROUPS = 65535;

/** 64 × 64 output tiles; 16 × 64 for M ≤ 16, where taller tiles would mostly compute padding. */
export function defaultGemmTile(m: number): GemmTile {
  return m <= 16 ? { lanesN: 16, lanesM: 4, kStep: 16 } : { lanesN: 16, lanesM: 16, kStep: 16 };
}

/** Workgroup-memory bytes of the kernel (x and W slices, f32). */
export function gemmWorkgroupBytes(tile: GemmTile): number {
  return 4 * tile.kStep * PER_LANE * (tile.lanesM + tile.lanesN);
}

/** Grid [along N, along M, spill of M past 65535]. */
export function gemmLinearGrid(shape: GemmLinearShape): [number, number, number] {
  const { tile } = shape;
  const groupsN = Math.ceil(shape.n / (tile.lanesN * PER_LANE));
  const groupsM = Math.ceil(shape.m / (tile.lanesM * PER_LANE));
  const y = Math.min(groupsM, MAX_GROUPS);
  return [groupsN, y, Math.ceil(groupsM / y)];
}

/** Bindings: 0 x, 1 W, 2 y, 3 bias (when used). */
export function gemmLinearWgsl(shape: GemmLinearShape, epilogue: LinearEpilogue): string {
  const { m, n, k, tile } = shape;
  const { lanesN, lanesM, kStep: BK } = tile;
  if (BK % 4 !== 0) throw new RangeError(`gemm: kStep ${BK} is not a multiple of 4`);
  const invocations = lanesN * lanesM;
  const BM = lanesM * PER_LANE;
  const BN = lanesN * PER_LANE;
  const [, groupsY] = gemmLinearGrid(shape);
  const vector = k % 4 === 0;
  const f16 = shape.weight === "f16";
  const u = (v: number) => `${v}u`;

  // One group of 4 consecutive k of one row per load slot: BM·BK/4 slots for x, BN·BK/4 for W.
  const loads = (name: "x" | "w", rows: number, limit: number, base: string): string[] => {
    const lines: string[] = [];
    const slots = (rows * BK) / 4;
    for (let s0 = 0; s0 < slots; s0 += invocations) {
      const slot = `slot${name}${s0}`;
      const guard = s0 + invocations > slots ? `if (${slot} < ${u(slots)}) ` : "";
      lines.push(`{`);
      lines.push(`  let ${slot} = lid + ${u(s0)};`);
      lines.push(`  let row = ${slot} / ${u(BK / 4)};`);
      lines.push(`  let kq = (${slot} % ${u(BK / 4)}) * 4u;`);
      lines.push(`  let src = min(${base} + row, ${u(limit - 1)});`);
      lines.push(`  let kk = k0 + kq;`);
      lines.push(`  var v = vec4<f32>(0.0);`);
      if (vector) {
        let load: string;
        if (name === "w" && f16) {
          load = `let p = w[(src * ${u(k)} + kk) / 4u]; ` +
            `v = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));`;
        } else {
          load = `v = ${name}[(src * ${u(k)} + kk) / 4u];`;
        }
        lines.push(`  if (kk < ${u(k)}) { ${load} }`);
      } else {
        for (let c = 0; c < 4; c++) {
          const index = `src * ${u(k)} + min(kk + ${u(c)}, ${u(k - 1)})`;
          const value = name === "w" && f16
            ? `unpack2x16float(w[(${index}) >> 1u] >> (((${index}) & 1u) * 16u)).x`
            : `${name}[${index}]`;
          lines.push(`  v[${c}] = select(0.0, ${value}, kk + ${u(c)} < ${u(k)});`);
        }
      }
      // Transposed: k-major, 4 consecutive rows per vec4.
      const tileName = name === "x" ? "xs" : "ws";
      const width = rows / 4;
      lines.push(`  ${guard}{`);
      for (let c = 0; c < 4; c++) {
        lines.push(`    ${tileName}[(kq + ${u(c)}) * ${u(width)} + row / 4u][row % 4u] = v[${c}];`);
      }
      lines.push(`  }`);
      lines.push(`}`);
    }
    return lines;
  };

  const accs: string[] = [];
  for (let r = 0; r < PER_LANE; r++) accs.push(`var acc${r} = vec4<f32>(0.0);`);
  const fmas = [0, 1, 2, 3].map((r) => `acc${r} = fma(vec4<f32>(a[${r}]), b, acc${r});`);
  const stores: string[] = [];
  for (let r = 0; r < PER_LANE; r++) {
    for (let c = 0; c < PER_LANE; c++) {
      const value = epilogue.bias ? `acc${r}[${c}] + bias[col${c}]` : `acc${r}[${c}]`;
      stores.push(
        `if (row${r} < ${u(m)} && col${c} < ${u(n)}) { y[row${r} * ${u(n)} + col${c}] = ` +
          `activate(${value}); }`,
      );
    }
  }
  const xType = vector ? "vec4<f32>" : "f32";
  const wType = f16 ? (vector ? "vec2<u32>" : "u32") : xType;
  return `// linear gemm: M=${m} N=${n} K=${k} ${shape.weight} weights, tile ${BM}x${BN}x${BK}
@group(0) @binding(0) var<storage, read> x: array<${xType}>;
@group(0) @binding(1) var<storage, read> w: array<${wType}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${epilogue.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
var<workgroup> xs: array<vec4<f32>, ${(BK * BM) / 4}>;
var<workgroup> ws: array<vec4<f32>, ${(BK * BN) / 4}>;
${activationWgsl(epilogue.activation)}
@compute @workgroup_size(${lanesN}, ${lanesM})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let blockM = wg.y + wg.z * ${u(groupsY)};
  if (blockM * ${u(BM)} >= ${u(m)}) { return; }
  let m0 = blockM * ${u(BM)};
  let n0 = wg.x * ${u(BN)};
  ${accs.join("\n  ")}
  for (var k0 = 0u; k0 < ${u(k)}; k0 += ${u(BK)}) {
    ${loads("x", BM, m, "m0").join("\n    ")}
    ${loads("w", BN, n, "n0").join("\n    ")}
    workgroupBarrier();
    for (var kk = 0u; kk < ${u(BK)}; kk++) {
      let a = xs[kk * ${u(BM / 4)} + lid3.y];
      let b = ws[kk * ${u(BN / 4)} + lid3.x];
      ${fmas.join("\n      ")}
    }
    workgroupBarrier();
  }
  ${[0, 1, 2, 3].map((r) => `let row${r} = m0 + lid3.y * 4u + ${u(r)};`).join("\n  ")}
  ${[0, 1, 2, 3].map((c) => `let col${c} = n0 + lid3.x * 4u + ${u(c)};`).join("\n  ")}
  ${stores.join("\n  ")}
}`;
}
