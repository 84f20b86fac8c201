/** Layer norm / modulation bandwidth at DiT-XL shapes: batch 2, 256 and 1024 tokens, width 1152. */

import { layerNorm, layerNormModulate, modulate } from "../src/ops/norm.ts";
import { Tensor } from "../src/tensor.ts";
import type { RowVariant } from "../shaders/rows.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const width = 1152;
const batch = 2;
const cases: BandwidthCase[] = [];
const inputs: Tensor[] = [];

for (const tokens of [256, 1024]) {
  const size = batch * tokens * width;
  const x = Tensor.fromArray(gpu, new Float32Array(size).map(() => Math.random()), [
    batch,
    tokens,
    width,
  ]);
  const mod = Tensor.fromArray(gpu, new Float32Array(batch * 6 * width).fill(0.1), [
    batch,
    6 * width,
  ]);
  inputs.push(x, mod);
  const rowBytes = 2 * size * 4;
  const shape = `[${batch}·${tokens}, ${width}]`;
  for (const variant of ["invocation", "workgroup"] as RowVariant[]) {
    cases.push({
      name: `layerNorm ${variant} ${shape}`,
      bytes: rowBytes,
      launch: () => layerNorm(x, 1e-6, variant),
    });
    cases.push({
      name: `layerNormModulate ${variant} ${shape}`,
      bytes: rowBytes,
      launch: () => layerNormModulate(x, 1e-6, mod, 0, 1, variant),
    });
  }
  cases.push({ name: `modulate ${shape}`, bytes: rowBytes, launch: () => modulate(x, mod, 0, 1) });
}

await benchBandwidth(gpu, "norm", cases);
