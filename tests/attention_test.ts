import { OptionError, ShapeError } from "../src/errors.ts";
import type { Gpu } from "../src/gpu/context.ts";
import {
  attentionMacs,
  type AttentionTiling,
  fullAttention,
  fullAttentionWithResidual,
  setAttentionTiling,
  windowAttention,
  windowKeyCount,
} from "../src/ops/attention.ts";
import { Tensor } from "../src/tensor.ts";
import { readGolden } from "./golden_reader.ts";
import { mergeHeads, packQkv, referenceAttention } from "./attention_reference.ts";
import { assertRelativeError, goldenDir, randomArray, testGpu } from "./helpers.ts";
import { ATTENTION_KERNELS, TEST_DIRECT_ATTENTION, withKernel } from "./kernel_helpers.ts";

const TOLERANCE = 1e-4;

interface Case {
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
  window: number;
}

function subtract(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((x, i) => x - b[i]);
}

function addArrays(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((x, i) => x + b[i]);
}

/** Runs all four launcher paths on `qkv` and checks them against full/window references. */
async function checkAllPaths(
  gpu: Gpu,
  c: Case,
  qkvData: Float32Array,
  fullRef: Float32Array,
  windowRef: Float32Array,
  label: string,
): Promise<void> {
  const channels = c.heads * c.headDim;
  const qkv = Tensor.fromArray(gpu, qkvData, [c.batch, c.tokens, 3 * channels]);
  const residualRef = subtract(fullRef, windowRef);
  const residualIn = Tensor.fromArray(gpu, residualRef, [c.batch, c.tokens, channels]);
  const full = fullAttention(qkv, c.heads);
  const window = windowAttention(qkv, c.heads, c.window);
  const fused = fullAttentionWithResidual(qkv, c.heads, c.window);
  const windowPlusResidual = windowAttention(qkv, c.heads, c.window, residualIn);
  const fullOut = await full.toFloat32();
  const windowOut = await window.toFloat32();
  assertRelativeError(fullOut, fullRef, TOLERANCE, `${label} full`);
  assertRelativeError(windowOut, windowRef, TOLERANCE, `${label} window`);
  assertRelativeError(await fused.output.toFloat32(), fullRef, TOLERANCE, `${label} fused output`);
  // The residual is a difference of two close tensors; measure it against its own norm only
  // when it is not ~0 (w ≥ N − 1 makes window = full).
  const fusedResidual = await fused.residual.toFloat32();
  if (residualRef.some((x) => Math.abs(x) > 1e-3)) {
    assertRelativeError(fusedResidual, residualRef, TOLERANCE, `${label} fused residual`);
  } else {
    assertRelativeError(addArrays(fusedResidual, fullRef), fullRef, 1e-6, `${label} residual ≈ 0`);
  }
  assertRelativeError(
    await windowPlusResidual.toFloat32(),
    addArrays(windowRef, residualRef),
    TOLERANCE,
    `${label} window + residual`,
  );
  for (
    const t of [qkv, residualIn, full, window, fused.output, fused.residual, windowPlusResidual]
  ) {
    t.release();
  }
}

async function checkAgainstReference(gpu: Gpu, c: Case, seed: number): Promise<void> {
  const channels = c.heads * c.headDim;
  const qkvData = randomArray(c.batch * c.tokens * 3 * channels, seed);
  const fullRef = referenceAttention(qkvData, c.batch, c.tokens, c.heads, c.headDim);
  const windowRef = referenceAttention(qkvData, c.batch, c.tokens, c.heads, c.headDim, c.window);
  const label = `B${c.batch} H${c.heads} N${c.tokens} D${c.headDim} w${c.window}`;
  await checkAllPaths(gpu, c, qkvData, fullRef, windowRef, label);
}

for (const kernel of ATTENTION_KERNELS) {
  Deno.test(`attention (${kernel}) matches the golden full and window outputs`, async () => {
    const gpu = await testGpu();
    await withKernel(gpu, "attention", kernel, () => checkGolden(gpu, kernel));
  });
}

async function checkGolden(gpu: Gpu, kernel: string): Promise<void> {
  const golden = await readGolden(`${goldenDir()}/attention.safetensors`);
  const names = [
    "attn_B1_H2_N64_D32_w8",
    "attn_B2_H3_N200_D72_w25",
    "attn_B1_H1_N256_D64_w32",
    "attn_B1_H2_N1030_D16_w128",
  ];
  for (const name of names) {
    const [batch, heads, tokens, headDim, window] = name.match(/\d+/g)!.map(Number);
    const c = { batch, heads, tokens, headDim, window };
    const get = (part: string) => {
      const t = golden.get(`${name}.${part}`);
      if (!t) throw new Error(`golden tensor ${name}.${part} is missing`);
      return t.data;
    };
    const qkvData = packQkv(get("q"), get("k"), get("v"), batch, heads, tokens, headDim);
    const fullRef = mergeHeads(get("full"), batch, heads, tokens, headDim);
    const windowRef = mergeHeads(get("window"), batch, heads, tokens, headDim);
    await checkAllPaths(gpu, c, qkvData, fullRef, windowRef, `${name} ${kernel}`);
  }
}

/** Runs `body` with `tiling` forced on every attention kernel, restoring the default after. */
async function withTiling(
  gpu: Gpu,
  tiling: AttentionTiling,
  body: () => Promise<void>,
): Promise<void> {
  setAttentionTiling(gpu, tiling);
  try {
    await body();
  } finally {
    setAttentionTiling(gpu, null);
  }
}

// Small tilings compile in a fraction of the time of the defaults (lavapipe compiles for
// seconds per kernel at R·D ≈ 1000), so only some tests run the defaults.
const SMALL_TILING: AttentionTiling = { workgroupSize: 8, queriesPerInvocation: 4, keyTile: 8 };

Deno.test({
  name: "attention matches the CPU reference on awkward sizes and band edges",
  ignore: !TEST_DIRECT_ATTENTION,
}, async () => {
  const gpu = await testGpu();
  const withDefaults: Case[] = [
    { batch: 2, heads: 3, tokens: 77, headDim: 18, window: 5 },
    { batch: 2, heads: 3, tokens: 77, headDim: 18, window: 0 },
    { batch: 2, heads: 3, tokens: 77, headDim: 18, window: 76 },
  ];
  for (const [i, c] of withDefaults.entries()) await checkAgainstReference(gpu, c, 100 + i);
  const withSmallTiling: Case[] = [
    { batch: 1, heads: 2, tokens: 45, headDim: 16, window: 1000 },
    { batch: 1, heads: 1, tokens: 1, headDim: 72, window: 3 },
    { batch: 3, heads: 1, tokens: 13, headDim: 7, window: 2 },
    { batch: 1, heads: 4, tokens: 130, headDim: 32, window: 17 },
  ];
  await withTiling(gpu, SMALL_TILING, async () => {
    for (const [i, c] of withSmallTiling.entries()) await checkAgainstReference(gpu, c, 110 + i);
  });
});

Deno.test("flash attention matches the CPU reference: head dims 64, 72, 7, partial tiles", async () => {
  const gpu = await testGpu();
  const cases: Case[] = [
    { batch: 2, heads: 3, tokens: 77, headDim: 64, window: 5 },
    { batch: 1, heads: 2, tokens: 130, headDim: 72, window: 0 },
    { batch: 2, heads: 1, tokens: 65, headDim: 72, window: 200 },
    { batch: 3, heads: 2, tokens: 13, headDim: 7, window: 2 },
    { batch: 1, heads: 1, tokens: 1, headDim: 7, window: 3 },
    { batch: 1, heads: 2, tokens: 300, headDim: 18, window: 40 },
  ];
  await withKernel(gpu, "attention", "flash", async () => {
    for (const [i, c] of cases.entries()) await checkAgainstReference(gpu, c, 300 + i);
  });
});

Deno.test("flash attention spreads more than 65535 workgroups over a 2D grid", async () => {
  const gpu = await testGpu();
  // 64 queries per workgroup: 4100 heads · 16 query tiles = 65600 workgroups.
  const c = { batch: 1, heads: 4100, tokens: 1024, headDim: 1, window: 1 };
  const channels = c.heads * c.headDim;
  const qkvData = randomArray(c.tokens * 3 * channels, 8);
  const qkv = Tensor.fromArray(gpu, qkvData, [1, c.tokens, 3 * channels]);
  const ref = referenceAttention(qkvData, 1, c.tokens, c.heads, c.headDim, c.window);
  await withKernel(gpu, "attention", "flash", async () => {
    const out = windowAttention(qkv, c.heads, c.window);
    assertRelativeError(await out.toFloat32(), ref, TOLERANCE, "flash window, large grid");
    out.release();
  });
  qkv.release();
});

Deno.test(
  { name: "every tiling shape gives the same attention", ignore: !TEST_DIRECT_ATTENTION },
  async () => {
    const gpu = await testGpu();
    // Odd query counts per invocation, key tiles that do not divide N, one query per workgroup.
    const tilings: AttentionTiling[] = [
      { workgroupSize: 16, queriesPerInvocation: 2, keyTile: 3 },
      { workgroupSize: 8, queriesPerInvocation: 3, keyTile: 1 },
      { workgroupSize: 64, queriesPerInvocation: 5, keyTile: 7 },
      { workgroupSize: 1, queriesPerInvocation: 12, keyTile: 16 },
    ];
    for (const [i, tiling] of tilings.entries()) {
      await withTiling(gpu, tiling, async () => {
        const tokens = 77 + 11 * i;
        await checkAgainstReference(
          gpu,
          { batch: 2, heads: 3, tokens, headDim: 20, window: 9 },
          200 + i,
        );
      });
    }
  },
);

Deno.test({
  name: "attention spreads more than 65535 workgroups over a 2D grid",
  ignore: !TEST_DIRECT_ATTENTION,
}, async () => {
  const gpu = await testGpu();
  // One query per workgroup: 8 heads · 8200 tokens = 65600 workgroups.
  const c = { batch: 1, heads: 8, tokens: 8200, headDim: 4, window: 2 };
  const tiling = { workgroupSize: 1, queriesPerInvocation: 1, keyTile: 4 };
  const channels = c.heads * c.headDim;
  const qkvData = randomArray(c.tokens * 3 * channels, 7);
  const qkv = Tensor.fromArray(gpu, qkvData, [1, c.tokens, 3 * channels]);
  const ref = referenceAttention(qkvData, 1, c.tokens, c.heads, c.headDim, c.window);
  await withTiling(gpu, tiling, async () => {
    const out = windowAttention(qkv, c.heads, c.window);
    assertRelativeError(await out.toFloat32(), ref, TOLERANCE, "window attention, large grid");
    out.release();
  });
  qkv.release();
});

Deno.test("attention MAC counts follow the exact band size", () => {
  for (const [n, w] of [[1, 0], [10, 0], [10, 3], [10, 9], [10, 50], [77, 5], [1024, 128]]) {
    let pairs = 0;
    for (let i = 0; i < n; i++) pairs += Math.min(n - 1, i + w) - Math.max(0, i - w) + 1;
    if (windowKeyCount(n, w) !== pairs) {
      throw new Error(`windowKeyCount(${n}, ${w}) = ${windowKeyCount(n, w)}, expected ${pairs}`);
    }
    if (attentionMacs(n, 1152, w) !== 2 * pairs * 1152) throw new Error("window MACs");
  }
  if (attentionMacs(256, 1152) !== 2 * 256 * 256 * 1152) throw new Error("full MACs");
});

Deno.test("attention tiling overrides are validated", async () => {
  const gpu = await testGpu();
  const bad = { workgroupSize: 8, queriesPerInvocation: 0, keyTile: 8 };
  try {
    setAttentionTiling(gpu, bad);
  } catch (error) {
    if (!(error instanceof OptionError) || !error.message.includes("queriesPerInvocation")) {
      throw error;
    }
    return;
  }
  setAttentionTiling(gpu, null);
  throw new Error("expected an OptionError for queriesPerInvocation 0");
});

Deno.test("attention rejects bad shapes with ShapeError naming op and shapes", async () => {
  const gpu = await testGpu();
  const qkv = Tensor.fromArray(gpu, new Float32Array(2 * 5 * 36), [2, 5, 36]);
  const wrongResidual = Tensor.fromArray(gpu, new Float32Array(2 * 5 * 10), [2, 5, 10]);
  const expectShapeError = (run: () => unknown, ...parts: string[]) => {
    try {
      run();
    } catch (error) {
      if (!(error instanceof ShapeError)) throw error;
      for (const part of parts) {
        if (!error.message.includes(part)) {
          throw new Error(`message "${error.message}" does not mention "${part}"`);
        }
      }
      return;
    }
    throw new Error(`expected a ShapeError mentioning ${parts.join(", ")}`);
  };
  expectShapeError(() => fullAttention(qkv, 5), "fullAttention", "[2,5,36]", "3·5");
  expectShapeError(() => windowAttention(qkv, 5, 2), "windowAttention", "[2,5,36]");
  expectShapeError(
    () => fullAttentionWithResidual(qkv, 7, 2),
    "fullAttentionWithResidual",
    "[2,5,36]",
  );
  expectShapeError(() => windowAttention(qkv, 2, -1), "windowAttention", "-1");
  expectShapeError(() => fullAttentionWithResidual(qkv, 2, -3), "fullAttentionWithResidual", "-3");
  expectShapeError(
    () => windowAttention(qkv, 2, 1, wrongResidual),
    "windowAttention",
    "[2,5,12]",
    "[2,5,10]",
  );
  const flat = qkv.reshape([10, 36]);
  expectShapeError(() => fullAttention(flat, 2), "fullAttention", "[10,36]");
  for (const t of [qkv, flat]) t.release();
  wrongResidual.release();
});
