/** Embedding kernels at DiT-XL shapes: class lookup and timestep embedding per step, and the 2D table. */

import { embeddingLookup, posEmbed2d, timestepEmbedding } from "../src/ops/embedding.ts";
import { Tensor } from "../src/tensor.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const width = 1152;
const table = Tensor.fromArray(gpu, new Float32Array(1001 * width).fill(0.5), [1001, width]);
const ids = Tensor.fromArray(gpu, Int32Array.from([207, 1000]), [2]);
const timesteps = Tensor.fromArray(gpu, Float32Array.from([999, 999]), [2]);
const dit = { flipSinToCos: true, downscaleFreqShift: 1 };

const cases: BandwidthCase[] = [
  {
    name: "embeddingLookup [2] from [1001, 1152]",
    bytes: 2 * 2 * width * 4,
    launch: () => embeddingLookup(table, ids),
  },
  {
    name: "timestepEmbedding [2, 256]",
    bytes: 2 * 256 * 4,
    launch: () => timestepEmbedding(timesteps, 256, dit),
  },
];
for (const grid of [16, 32]) {
  cases.push({
    name: `posEmbed2d [${grid}·${grid}, ${width}]`,
    bytes: grid * grid * width * 4,
    launch: () => posEmbed2d(gpu, width, grid, grid, grid, 1),
  });
}

await benchBandwidth(gpu, "embedding", cases);
