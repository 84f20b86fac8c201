import { ShapeError } from "../src/errors.ts";
import { groupNorm, groupNormApply, groupNormStats } from "../src/ops/group_norm.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import { referenceGroupNorm, referenceToChannelsLast } from "./conv_reference.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

// Per-group sums of up to ~20k f32 values, merged from 2048-value chunks: a few 1e-7 relative.
const F32_TOLERANCE = 2e-6;

interface GroupNormCase {
  shape: number[];
  groups: number;
  silu?: boolean;
  /** Added to every value: statistics must not lose digits to a large mean. */
  offset?: number;
  /** Seeds the input (gamma and beta take the next two seeds). */
  seed: number;
}

async function checkGroupNorm(c: GroupNormCase, tolerance = F32_TOLERANCE): Promise<void> {
  const gpu = await testGpu();
  const [batch, channels] = c.shape;
  const plane = c.shape.slice(2).reduce((a, d) => a * d, 1);
  const eps = 1e-6;
  const xData = randomArray(batch * channels * plane, c.seed, 1.5);
  if (c.offset) { for (let i = 0; i < xData.length; i++) xData[i] += c.offset; }
  const gamma = randomArray(channels, c.seed + 1);
  const beta = randomArray(channels, c.seed + 2);
  const x = Tensor.fromArray(gpu, xData, c.shape);
  const g = Tensor.fromArray(gpu, gamma, [channels]);
  const b = Tensor.fromArray(gpu, beta, [channels]);
  const expected = referenceGroupNorm(
    xData,
    batch,
    channels,
    plane,
    c.groups,
    eps,
    gamma,
    beta,
    c.silu,
  );
  const y = groupNorm(x, c.groups, g, b, { eps, silu: c.silu });
  assertRelativeError(
    await y.toFloat32(),
    expected,
    tolerance,
    `groupNorm ${JSON.stringify(c)}`,
  );
  const tokens = groupNorm(x, c.groups, g, b, { eps, silu: c.silu, output: "tokens" });
  if (tokens.shape.join() !== [batch, plane, channels].join()) throw new Error(`[${tokens.shape}]`);
  assertRelativeError(
    await tokens.toFloat32(),
    referenceToChannelsLast(expected, batch, channels, plane),
    tolerance,
    `groupNorm tokens ${JSON.stringify(c)}`,
  );
  for (const t of [x, g, b, y, tokens]) t.release();
}

Deno.test("groupNorm matches the CPU reference at awkward sizes", async () => {
  const cases: GroupNormCase[] = [
    { shape: [1, 6, 5, 7], groups: 3, seed: 10 },
    { shape: [2, 12, 3, 3], groups: 4, silu: true, seed: 20 },
    { shape: [3, 5, 1, 1], groups: 5, seed: 30 },
    { shape: [1, 8, 4, 4], groups: 1, silu: true, seed: 40 },
    // Groups of 4·65·66 = 17160 values span 9 statistics chunks (the last one partial).
    { shape: [2, 8, 65, 66], groups: 2, silu: true, seed: 50 },
  ];
  for (const c of cases) await checkGroupNorm(c);
});

Deno.test("groupNorm keeps its digits when the mean dwarfs the spread", async () => {
  // The f32 mean itself is off by up to ulp(1000)/2 ≈ 3e-5, i.e. 2e-5 of the spread 1.5: that
  // is the floor. E[x²] − E[x]² in f32 would be off by ~1e-2 here.
  await checkGroupNorm({ shape: [1, 4, 48, 48], groups: 2, offset: 1000, seed: 90 }, 5e-5);
});

Deno.test("groupNormStats returns mean and 1/σ per sample and group", async () => {
  const gpu = await testGpu();
  const data = new Float32Array([1, 2, 3, 4, 10, 10, 10, 10]); // [1, 2, 2, 2] in 2 groups
  const x = Tensor.fromArray(gpu, data, [1, 2, 2, 2]);
  const stats = groupNormStats(x, 2, 1e-6);
  const s = await stats.toFloat32();
  assertRelativeError(s, [2.5, 1 / Math.sqrt(1.25 + 1e-6), 10, 1 / Math.sqrt(1e-6)], 1e-6, "stats");
  x.release();
  stats.release();
});

Deno.test("groupNorm rejects bad groups and parameters with ShapeError", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(6 * 4), [1, 6, 2, 2]);
  const g = Tensor.fromArray(gpu, new Float32Array(6), [6]);
  const short = Tensor.fromArray(gpu, new Float32Array(5), [5]);
  assertThrows(() => groupNorm(x, 4, g, g, { eps: 1e-6 }), ShapeError, "4 groups do not divide");
  assertThrows(
    () => groupNorm(x, 3, g, short, { eps: 1e-6 }),
    ShapeError,
    "bias expected shape [6]",
  );
  const stats = groupNormStats(x, 3, 1e-6);
  const wrongBatch = Tensor.fromArray(gpu, new Float32Array(2 * 6 * 4), [2, 6, 2, 2]);
  assertThrows(
    () => groupNormApply(wrongBatch, stats, g, g),
    ShapeError,
    "stats expected [2, G, 2]",
  );
  for (const t of [x, g, short, stats, wrongBatch]) t.release();
});
