import { ShapeError } from "../src/errors.ts";
import { conv2d, type ConvTile, releaseConvCaches } from "../src/ops/conv.ts";
import { groupNormApply, groupNormStats } from "../src/ops/group_norm.ts";
import { upsampleNearest2x } from "../src/ops/upsample.ts";
import { Tensor } from "../src/tensor.ts";
import { assertThrows } from "./asserts.ts";
import {
  referenceConv2d,
  referenceGroupNorm,
  referenceToChannelsLast,
  referenceUpsample2x,
} from "./conv_reference.ts";
import { assertRelativeError, randomArray, testGpu } from "./helpers.ts";

// f32 sums of up to ~1200 terms against a float64 reference: a few 1e-7 relative.
const F32_TOLERANCE = 2e-6;

interface ConvCase {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kernelSize: 1 | 3;
  bias?: boolean;
  tile?: ConvTile;
}

async function checkConv(c: ConvCase, seed: number): Promise<void> {
  const gpu = await testGpu();
  const { batch, inChannels, outChannels, height, width, kernelSize } = c;
  const xData = randomArray(batch * inChannels * height * width, seed);
  const wData = randomArray(outChannels * inChannels * kernelSize * kernelSize, seed + 1, 0.2);
  const bData = c.bias === false ? undefined : randomArray(outChannels, seed + 2);
  const x = Tensor.fromArray(gpu, xData, [batch, inChannels, height, width]);
  const w = Tensor.fromArray(gpu, wData, [outChannels, inChannels, kernelSize, kernelSize]);
  const b = bData ? Tensor.fromArray(gpu, bData, [outChannels]) : undefined;
  const y = conv2d(x, w, b, { tile: c.tile });
  const expected = referenceConv2d(
    xData,
    { batch, inChannels, height, width },
    wData,
    outChannels,
    kernelSize,
    bData,
  );
  assertRelativeError(await y.toFloat32(), expected, F32_TOLERANCE, `conv2d ${JSON.stringify(c)}`);
  for (const t of [x, w, y, ...(b ? [b] : [])]) t.release();
}

Deno.test("conv2d 3×3 matches the CPU reference at awkward sizes", async () => {
  const cases: ConvCase[] = [
    { batch: 1, inChannels: 3, outChannels: 5, height: 7, width: 9, kernelSize: 3 },
    { batch: 2, inChannels: 13, outChannels: 21, height: 5, width: 11, kernelSize: 3 },
    { batch: 3, inChannels: 8, outChannels: 70, height: 1, width: 1, kernelSize: 3 },
    // Rows of a multiple of 4 take the vec4 pack path.
    { batch: 2, inChannels: 6, outChannels: 9, height: 3, width: 8, kernelSize: 3 },
    {
      batch: 1,
      inChannels: 32,
      outChannels: 16,
      height: 12,
      width: 17,
      kernelSize: 3,
      bias: false,
    },
  ];
  for (const [i, c] of cases.entries()) await checkConv(c, 100 + 10 * i);
});

Deno.test("conv2d 1×1 matches the CPU reference", async () => {
  const cases: ConvCase[] = [
    { batch: 2, inChannels: 7, outChannels: 3, height: 5, width: 3, kernelSize: 1 },
    { batch: 1, inChannels: 36, outChannels: 19, height: 9, width: 20, kernelSize: 1 },
  ];
  for (const [i, c] of cases.entries()) await checkConv(c, 200 + 10 * i);
});

Deno.test("conv2d register tiles all give the same result", async () => {
  const base = { batch: 1, inChannels: 16, outChannels: 24, height: 6, width: 13 } as const;
  const tiles: ConvTile[] = [
    { pixelsPerLane: 1, channelsPerLane: 1, texelsPerStep: 1 },
    { pixelsPerLane: 4, channelsPerLane: 2, texelsPerStep: 2 },
    { pixelsPerLane: 16, channelsPerLane: 4, texelsPerStep: 4 },
  ];
  for (const [i, tile] of tiles.entries()) {
    await checkConv({ ...base, kernelSize: 3, tile }, 300 + i);
    await checkConv({ ...base, kernelSize: 1, tile }, 310 + i);
  }
});

async function checkFusedConv(h: number, w: number): Promise<void> {
  const gpu = await testGpu();
  const [batch, cin, cout, groups, eps] = [2, 12, 10, 3, 1e-6];
  const xData = randomArray(batch * cin * h * w, 401, 2);
  for (let i = 0; i < xData.length; i++) xData[i] += 3; // a mean far from 0
  const gamma = randomArray(cin, 402);
  const beta = randomArray(cin, 403);
  const wData = randomArray(cout * cin * 9, 404, 0.2);
  const bData = randomArray(cout, 405);
  const rData = randomArray(batch * cout * 4 * h * w, 406);
  const normed = referenceGroupNorm(xData, batch, cin, h * w, groups, eps, gamma, beta, true);
  const up = referenceUpsample2x(normed, batch * cin, h, w);
  const expected = referenceConv2d(
    up,
    { batch, inChannels: cin, height: 2 * h, width: 2 * w },
    wData,
    cout,
    3,
    bData,
  );
  for (let i = 0; i < expected.length; i++) expected[i] += rData[i];

  const x = Tensor.fromArray(gpu, xData, [batch, cin, h, w]);
  const stats = groupNormStats(x, groups, eps);
  const g = Tensor.fromArray(gpu, gamma, [cin]);
  const b = Tensor.fromArray(gpu, beta, [cin]);
  const weight = Tensor.fromArray(gpu, wData, [cout, cin, 3, 3]);
  const bias = Tensor.fromArray(gpu, bData, [cout]);
  const residual = Tensor.fromArray(gpu, rData, [batch, cout, 2 * h, 2 * w]);
  const y = conv2d(x, weight, bias, {
    normalize: { stats, weight: g, bias: b, silu: true },
    upsample: true,
    residual,
  });
  assertRelativeError(await y.toFloat32(), expected, 1e-5, `fused conv2d at ${h}×${w}`);
  for (const t of [x, stats, g, b, weight, bias, residual, y]) t.release();
}

Deno.test("conv2d folds group norm + SiLU, upsample and residual into one call", async () => {
  await checkFusedConv(5, 7); // scalar source rows
  await checkFusedConv(3, 8); // vec4 source rows
});

Deno.test("conv2d reads channels-last input", async () => {
  const gpu = await testGpu();
  const [batch, cin, cout, h, w] = [2, 10, 6, 3, 5];
  const xData = randomArray(batch * cin * h * w, 501);
  const wData = randomArray(cout * cin, 502, 0.3);
  const bData = randomArray(cout, 503);
  const expected = referenceConv2d(
    xData,
    { batch, inChannels: cin, height: h, width: w },
    wData,
    cout,
    1,
    bData,
  );
  const tokens = Float32Array.from(referenceToChannelsLast(xData, batch, cin, h * w));
  const x = Tensor.fromArray(gpu, tokens, [batch, h, w, cin]);
  const weight = Tensor.fromArray(gpu, wData, [cout, cin, 1, 1]);
  const bias = Tensor.fromArray(gpu, bData, [cout]);
  const y = conv2d(x, weight, bias, { inputLayout: "nhwc" });
  assertRelativeError(await y.toFloat32(), expected, F32_TOLERANCE, "channels-last conv2d");
  for (const t of [x, weight, bias, y]) t.release();
});

Deno.test("conv2d rejects mismatched shapes with ShapeError", async () => {
  const gpu = await testGpu();
  const x = Tensor.fromArray(gpu, new Float32Array(2 * 4 * 9), [2, 4, 3, 3]);
  const w = Tensor.fromArray(gpu, new Float32Array(5 * 3 * 9), [5, 3, 3, 3]);
  const w5 = Tensor.fromArray(gpu, new Float32Array(5 * 4 * 25), [5, 4, 5, 5]);
  const w1 = Tensor.fromArray(gpu, new Float32Array(5 * 4), [5, 4, 1, 1]);
  const b = Tensor.fromArray(gpu, new Float32Array(4), [4]);
  assertThrows(() => conv2d(x, w), ShapeError, "[Cout, 4, k, k]");
  assertThrows(() => conv2d(x, w5), ShapeError, "k = 1 or 3");
  assertThrows(() => conv2d(x, w1, b), ShapeError, "bias expected shape [5]");
  assertThrows(() => conv2d(x, w1, undefined, { residual: x }), ShapeError, "residual");
  for (const t of [x, w, w5, w1, b]) t.release();
  releaseConvCaches(gpu);
});

Deno.test({
  name: "conv2d, groupNorm and upsample split tensors over one binding into channel slabs",
  // Only meaningful (and only affordable) where a binding is capped at 128–256 MiB.
  ignore: (await testGpu()).limits.maxStorageBufferBindingSize > 256 * 2 ** 20,
  async fn() {
    const gpu = await testGpu();
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const size = 512;
    const plane = size * size;
    // Enough channels that the wide tensor passes the binding limit.
    const wide = Math.ceil(limit / (plane * 4) / 12) * 12 + 12;
    const narrow = 8;
    const xData = randomArray(narrow * plane, 901);
    const wData = randomArray(wide * narrow, 902, 0.3);
    const bData = randomArray(wide, 903);
    const x = Tensor.fromArray(gpu, xData, [1, narrow, size, size]);
    const w = Tensor.fromArray(gpu, wData, [wide, narrow, 1, 1]);
    const b = Tensor.fromArray(gpu, bData, [wide]);
    const y = conv2d(x, w, b); // output slabs
    const yData = await y.toFloat32();
    const picks = Array.from({ length: 4000 }, (_, i) => (i * 7919 * 104729) % yData.length);
    const sampled = (data: ArrayLike<number>) => picks.map((i) => data[i]);
    const expectedY = picks.map((i) => {
      const co = Math.floor(i / plane);
      let sum = bData[co];
      for (let ci = 0; ci < narrow; ci++) {
        sum += wData[co * narrow + ci] * xData[ci * plane + i % plane];
      }
      return sum;
    });
    assertRelativeError(sampled(yData), expectedY, F32_TOLERANCE, "conv2d output slabs");

    const groups = 4;
    const gamma = randomArray(wide, 904);
    const beta = randomArray(wide, 905);
    const g = Tensor.fromArray(gpu, gamma, [wide]);
    const be = Tensor.fromArray(gpu, beta, [wide]);
    const stats = groupNormStats(y, groups, 1e-6);
    const normed = groupNormApply(y, stats, g, be, { silu: true });
    const perGroup = (wide / groups) * plane;
    const groupStats = Array.from({ length: groups }, (_, k) => {
      let mean = 0;
      for (let i = k * perGroup; i < (k + 1) * perGroup; i++) mean += yData[i];
      mean /= perGroup;
      let variance = 0;
      for (let i = k * perGroup; i < (k + 1) * perGroup; i++) variance += (yData[i] - mean) ** 2;
      return [mean, 1 / Math.sqrt(variance / perGroup + 1e-6)];
    });
    const expectedNormed = picks.map((i) => {
      const c = Math.floor(i / plane);
      const [mean, rstd] = groupStats[Math.floor(i / perGroup)];
      const v = (yData[i] - mean) * rstd * gamma[c] + beta[c];
      return v / (1 + Math.exp(-v));
    });
    assertRelativeError(
      sampled(await normed.toFloat32()),
      expectedNormed,
      1e-5,
      "groupNorm slabs",
    );

    const back = Tensor.fromArray(gpu, randomArray(narrow * wide, 906, 0.1), [narrow, wide, 1, 1]);
    const backData = await back.toFloat32();
    const z = conv2d(y, back); // input slabs
    const zData = await z.toFloat32();
    const zPicks = picks.map((i) => i % zData.length);
    const expectedZ = zPicks.map((i) => {
      const co = Math.floor(i / plane);
      let sum = 0;
      for (let ci = 0; ci < wide; ci++) {
        sum += backData[co * wide + ci] * yData[ci * plane + i % plane];
      }
      return sum;
    });
    assertRelativeError(zPicks.map((i) => zData[i]), expectedZ, 1e-5, "conv2d input slabs");

    // Planes of 256² from y's data, enough that the upsampled [1, P, 512, 512] passes the limit.
    const planes = wide - 8;
    const flat = y.reshape([wide * 4, 1, size / 2, size / 2]);
    const first = flat.rows(0, planes);
    const small = first.reshape([1, planes, size / 2, size / 2]);
    const up = upsampleNearest2x(small); // output slabs
    const upData = await up.toFloat32();
    const upPicks = picks.map((i) => i % upData.length);
    const half = size / 2;
    const expectedUp = upPicks.map((i) => {
      const p = Math.floor(i / plane);
      const row = Math.floor((i % plane) / size);
      const col = i % size;
      return yData[p * half * half + (row >> 1) * half + (col >> 1)];
    });
    assertRelativeError(upPicks.map((i) => upData[i]), expectedUp, 0, "upsample slabs");
    for (const t of [x, w, b, y, g, be, stats, normed, back, z, flat, first, small, up]) {
      t.release();
    }
  },
});
