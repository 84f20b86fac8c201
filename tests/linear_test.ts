import { ShapeError } from "../src/errors.ts";
import {
  type Activation,
  linear,
  linearCacheBytes,
  type LinearOptions,
  releaseLinearCaches,
} from "../src/ops/linear.ts";
import { Tensor } from "../src/tensor.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

/** Asserts `fn` throws an instance of `errorClass` whose message contains `fragment`. */
function assertThrows(
  fn: () => unknown,
  errorClass: new (message: string) => Error,
  fragment: string,
): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof errorClass) || !e.message.includes(fragment)) {
      throw new Error(`expected ${errorClass.name} mentioning "${fragment}", got ${e}`);
    }
    return;
  }
  throw new Error(`expected ${errorClass.name} mentioning "${fragment}", nothing was thrown`);
}

// f32 sums of ~1000 terms round to ~1e-7 each; 3e-6 leaves room for K in the thousands.
const F32_TOLERANCE = 3e-6;
const KERNELS = ["tiled", "direct", "gemm"] as const;

/** act(x·Wᵀ + b) in float64 from the exact f32 inputs. */
function referenceLinear(
  x: Float32Array,
  w: ArrayLike<number>,
  b: Float32Array | undefined,
  m: number,
  k: number,
  n: number,
  activation: Activation,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = b ? b[j] : 0;
      for (let t = 0; t < k; t++) sum += x[i * k + t] * w[j * k + t];
      if (activation === "gelu_tanh") {
        sum = 0.5 * sum * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (sum + 0.044715 * sum ** 3)));
      } else if (activation === "silu") {
        sum = sum / (1 + Math.exp(-sum));
      }
      out[i * n + j] = sum;
    }
  }
  return out;
}

interface Case {
  lead: number[];
  k: number;
  n: number;
  bias?: boolean;
  activation?: Activation;
  f16?: boolean;
  seed?: number;
}

async function checkCase(
  c: Case,
  options: LinearOptions,
  tolerance = F32_TOLERANCE,
): Promise<void> {
  const gpu = await testGpu();
  const m = c.lead.reduce((a, d) => a * d, 1);
  const seed = c.seed ?? 1;
  const x = randomArray(m * c.k, seed);
  const w = randomArray(c.n * c.k, seed + 1, 1 / Math.sqrt(Math.max(c.k, 1)));
  const b = c.bias ? randomArray(c.n, seed + 2) : undefined;
  const tx = Tensor.fromArray(gpu, x, [...c.lead, c.k]);
  const tw = Tensor.fromArray(gpu, w, [c.n, c.k], c.f16 ? "f16" : "f32");
  const tb = b ? Tensor.fromArray(gpu, b, [c.n]) : undefined;
  const activation = c.activation ?? "none";
  const y = linear(tx, tw, tb, { ...options, activation });
  const wUsed = c.f16 ? Float16Array.from(w) : w;
  const expected = referenceLinear(x, wUsed, b, m, c.k, c.n, activation);
  if (y.shape.join() !== [...c.lead, c.n].join()) {
    throw new Error(`output shape [${y.shape}], expected [${[...c.lead, c.n]}]`);
  }
  const what = `linear ${options.kernel} [${c.lead}]x${c.k}→${c.n} ${activation}` +
    `${c.bias ? " +bias" : ""}${c.f16 ? " f16" : ""}`;
  assertRelativeError(await y.toFloat32(), expected, tolerance, what);
  for (const t of [tx, tw, tb, y]) t?.release();
}

for (const kernel of KERNELS) {
  Deno.test(`linear ${kernel}: awkward sizes, with and without bias`, async () => {
    await checkCase({ lead: [37], k: 53, n: 29, bias: true }, { kernel });
    await checkCase({ lead: [37], k: 53, n: 29 }, { kernel });
    await checkCase({ lead: [5], k: 7, n: 3, bias: true }, { kernel });
    await checkCase({ lead: [300], k: 1150, n: 70, bias: true }, { kernel });
  });

  Deno.test(`linear ${kernel}: M = 1 and 2 (conditioning MLPs)`, async () => {
    await checkCase({ lead: [1], k: 256, n: 768, bias: true }, { kernel });
    await checkCase({ lead: [2], k: 256, n: 1152, bias: true, activation: "silu" }, { kernel });
  });

  Deno.test(`linear ${kernel}: GELU-tanh and SiLU epilogues`, async () => {
    for (const activation of ["gelu_tanh", "silu"] as const) {
      await checkCase({ lead: [45], k: 64, n: 40, bias: true, activation, seed: 3 }, { kernel });
      await checkCase({ lead: [9], k: 13, n: 17, activation, seed: 4 }, { kernel });
    }
  });

  Deno.test(`linear ${kernel}: f16 weights widen exactly (reference uses the rounded weights)`, async () => {
    await checkCase({ lead: [37], k: 53, n: 29, bias: true, f16: true }, { kernel });
    await checkCase({ lead: [64], k: 128, n: 48, activation: "gelu_tanh", f16: true }, { kernel });
    await checkCase({ lead: [2], k: 6, n: 10, f16: true }, { kernel });
  });

  Deno.test(`linear ${kernel}: leading batch dims are flattened`, async () => {
    await checkCase({ lead: [2, 3, 11], k: 24, n: 19, bias: true }, { kernel });
  });
}

Deno.test("linear tiled: register tiles that do not divide the problem", async () => {
  const tiles = [
    { rowsPerLane: 3, colsPerLane: 2, kBlock: 1 },
    { rowsPerLane: 24, colsPerLane: 16, kBlock: 2 },
    { rowsPerLane: 16, colsPerLane: 8, kBlock: 8 },
  ];
  for (const tile of tiles) {
    await checkCase({ lead: [50], k: 100, n: 37, bias: true }, { kernel: "tiled", tile });
  }
  await checkCase({ lead: [50], k: 100, n: 37, f16: true }, {
    kernel: "tiled",
    tile: { rowsPerLane: 5, colsPerLane: 3, kBlock: 2 },
  });
});

Deno.test("linear tiled: M and N past the texture height limit are split into chunks", async () => {
  const gpu = await testGpu();
  const maxRows = gpu.limits.maxTextureDimension2D;
  await checkCase({ lead: [maxRows + 37], k: 8, n: 12, bias: true }, { kernel: "tiled" });
  await checkCase({ lead: [3], k: 9, n: maxRows + 5, bias: true }, { kernel: "tiled" });
});

Deno.test("linear gemm: several output tiles, partial tiles and k steps on every edge", async () => {
  // 64×64 tiles (16×64 for M ≤ 16) with 16 k per step: M, N and K each end mid-tile, K both
  // a multiple of 4 (vec4 loads) and not (scalar loads), f32 and f16 weights.
  await checkCase({ lead: [130], k: 68, n: 131, bias: true }, { kernel: "gemm" });
  await checkCase({ lead: [65], k: 33, n: 64, activation: "gelu_tanh" }, { kernel: "gemm" });
  await checkCase({ lead: [64], k: 16, n: 65, bias: true, f16: true }, { kernel: "gemm" });
  await checkCase({ lead: [129], k: 75, n: 70, f16: true, seed: 5 }, { kernel: "gemm" });
  await checkCase({ lead: [17], k: 1152, n: 200, bias: true, f16: true }, { kernel: "gemm" });
  await checkCase({ lead: [16], k: 7, n: 3, bias: true }, { kernel: "gemm" });
});

Deno.test("linear gemm: M past the 65535-workgroup grid limit uses a 3D grid", async () => {
  // A one-invocation workgroup owns 4 rows: 65536 · 4 rows need a second grid layer.
  const gemmTile = { lanesN: 1, lanesM: 1, kStep: 4 };
  await checkCase({ lead: [65536 * 4 + 40], k: 4, n: 3 }, { kernel: "gemm", gemmTile });
  await checkCase({ lead: [70], k: 9, n: 5, bias: true }, { kernel: "gemm", gemmTile });
});

Deno.test("linear direct: M past the 65535-workgroup grid limit uses a 3D grid", async () => {
  // 8 lanes × 4 rows per workgroup: 65536 · 32 rows need a second grid layer.
  await checkCase({ lead: [65536 * 32 + 40], k: 4, n: 3 }, { kernel: "direct" });
});

Deno.test("linear: weight textures are cached per tensor and freed on release", async () => {
  const gpu = await testGpu();
  releaseLinearCaches(gpu);
  const x = Tensor.fromArray(gpu, randomArray(4 * 32, 5), [4, 32]);
  const w = Tensor.fromArray(gpu, randomArray(16 * 32, 6), [16, 32]);
  const first = linear(x, w, undefined, { kernel: "tiled" });
  const cached = linearCacheBytes(gpu);
  const second = linear(x, w, undefined, { kernel: "tiled" });
  if (linearCacheBytes(gpu) !== cached || cached === 0) {
    throw new Error(`cache grew on reuse: ${cached} → ${linearCacheBytes(gpu)}`);
  }
  assertRelativeError(await second.toFloat32(), await first.toFloat32(), 0, "cached weight");
  w.release();
  const w2 = Tensor.fromArray(gpu, randomArray(16 * 32, 7), [16, 32]);
  const third = linear(x, w2, undefined, { kernel: "tiled" });
  // The released weight's copy was swept when w2 was added, so only one copy is held.
  if (linearCacheBytes(gpu) !== cached) throw new Error("released weight's texture was kept");
  await third.toFloat32();
  releaseLinearCaches(gpu);
  if (linearCacheBytes(gpu) !== 0) throw new Error("releaseLinearCaches left textures");
  for (const t of [x, w2, first, second, third]) t.release();
});

Deno.test("linear tiled: calls recorded back to back share the x scratch texture safely", async () => {
  const gpu = await testGpu();
  const [m, k, n] = [20, 40, 24];
  // Larger call first, so the second does not grow (and thereby flush) the scratch texture.
  const rows = [2 * m, m];
  const xs = rows.map((r, i) => randomArray(r * k, 11 + i));
  const w = randomArray(n * k, 13, 0.2);
  const tw = Tensor.fromArray(gpu, w, [n, k]);
  const txs = xs.map((x, i) => Tensor.fromArray(gpu, x, [rows[i], k]));
  // No sync between the calls: the second pack overwrites the texture the first product reads.
  const ys = txs.map((tx) => linear(tx, tw, undefined, { kernel: "tiled" }));
  for (const [i, y] of ys.entries()) {
    const expected = referenceLinear(xs[i], w, undefined, rows[i], k, n, "none");
    assertRelativeError(await y.toFloat32(), expected, F32_TOLERANCE, `call ${i}`);
  }
  for (const t of [tw, ...txs, ...ys]) t.release();
});

Deno.test("linear: empty problems return an empty tensor", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(0), [0, 8]);
  const w = Tensor.fromArray(gpu, randomArray(8 * 8, 1), [8, 8]);
  const y = linear(x, w);
  if (y.shape.join() !== "0,8") throw new Error(`shape [${y.shape}]`);
  for (const t of [x, w, y]) t.release();
});

Deno.test("linear: mismatched shapes and dtypes throw ShapeError naming the shapes", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, randomArray(3 * 8, 1), [3, 8]);
  const w = Tensor.fromArray(gpu, randomArray(4 * 7, 2), [4, 7]);
  const w8 = Tensor.fromArray(gpu, randomArray(4 * 8, 3), [4, 8]);
  const b5 = Tensor.fromArray(gpu, randomArray(5, 4), [5]);
  const xi = Tensor.fromArray(gpu, new Int32Array(3 * 8), [3, 8]);
  assertThrows(() => linear(x, w), ShapeError, "[N, 8]");
  assertThrows(() => linear(x, w8, b5), ShapeError, "[4]");
  assertThrows(() => linear(xi, w8), ShapeError, "i32");
  const flat = w8.reshape([32]);
  assertThrows(() => linear(x, flat), ShapeError, "[32]");
  for (const t of [x, w, w8, b5, xi, flat]) t.release();
});
