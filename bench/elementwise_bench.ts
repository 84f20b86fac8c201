/** Elementwise bandwidth at DiT-XL shapes: batch 2, 256 and 1024 tokens, width 1152 (MLP 4608). */

import { add, gatedResidualAdd, geluTanh, mul, scale, silu } from "../src/ops/elementwise.ts";
import { Tensor } from "../src/tensor.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const width = 1152;
const batch = 2;
const cases: BandwidthCase[] = [];

function random(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(gpu, new Float32Array(size).map(() => Math.random() - 0.5), shape);
}

for (const tokens of [256, 1024]) {
  const shape = [batch, tokens, width];
  const bytes = batch * tokens * width * 4;
  const h = random(shape);
  const y = random(shape);
  const bias = random([width]);
  const mod = random([batch, 6 * width]);
  const hidden = random([batch, tokens, 4 * width]);
  const label = `[${batch}·${tokens}, ${width}]`;
  cases.push(
    { name: `add ${label}`, bytes: 3 * bytes, launch: () => add(h, y) },
    { name: `add bias ${label}`, bytes: 2 * bytes, launch: () => add(h, bias) },
    { name: `mul ${label}`, bytes: 3 * bytes, launch: () => mul(h, y) },
    { name: `scale ${label}`, bytes: 2 * bytes, launch: () => scale(h, 0.125) },
    { name: `silu ${label}`, bytes: 2 * bytes, launch: () => silu(h) },
    {
      name: `gatedResidualAdd ${label}`,
      bytes: 3 * bytes,
      launch: () => gatedResidualAdd(h, y, mod, 2),
    },
    {
      name: `geluTanh [${batch}·${tokens}, ${4 * width}]`,
      bytes: 2 * 4 * bytes,
      launch: () => geluTanh(hidden),
    },
  );
}

await benchBandwidth(gpu, "elementwise", cases);
