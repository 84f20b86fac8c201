/** Patch embed and unpatchify at DiT-XL/2 shapes (latent 4×32×32 and 4×64×64, batch 2). */

import { patchEmbed, unpatchify } from "../src/ops/patch.ts";
import { Tensor } from "../src/tensor.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const [batch, inChannels, width, patch, outChannels] = [2, 4, 1152, 2, 8];
const weight = Tensor.fromArray(
  gpu,
  new Float32Array(width * inChannels * patch * patch).fill(0.01),
  [width, inChannels, patch, patch],
);
const bias = Tensor.fromArray(gpu, new Float32Array(width), [width]);
const cases: BandwidthCase[] = [];

for (const side of [32, 64]) {
  const grid = side / patch;
  const tokens = grid * grid;
  const latent = Tensor.fromArray(gpu, new Float32Array(batch * inChannels * side * side).fill(1), [
    batch,
    inChannels,
    side,
    side,
  ]);
  const tokenOut = Tensor.fromArray(
    gpu,
    new Float32Array(batch * tokens * patch * patch * outChannels).fill(1),
    [batch, tokens, patch * patch * outChannels],
  );
  cases.push({
    name:
      `patchEmbed [${batch}, ${inChannels}, ${side}, ${side}] → [${batch}, ${tokens}, ${width}]`,
    bytes: (latent.size + weight.size + batch * tokens * width) * 4,
    launch: () => patchEmbed(latent, weight, bias, patch),
  });
  cases.push({
    name: `unpatchify [${batch}, ${tokens}, ${patch * patch * outChannels}]`,
    bytes: 2 * tokenOut.size * 4,
    launch: () => unpatchify(tokenOut, outChannels, patch, grid, grid),
  });
}

await benchBandwidth(gpu, "patch", cases);
