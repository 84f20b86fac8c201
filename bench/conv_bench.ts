/**
 * conv2d at SD-VAE decoder shapes (batch 1): 3×3 convs of 512 channels at 32² and 64², 256 at
 * 128², 128 at 256², plus a 1×1 shortcut. Each case logs GFLOP/s (2·Cin·Cout·k²·H·W / best wall
 * time of a synced call) after its last iteration; the time includes packing the input texture.
 * CONV_TILE="pixels,channels,texels" overrides the register tile; CONV_CASES="0,2" picks cases.
 */

import { conv2d, convFlops, type ConvTile } from "../src/ops/conv.ts";
import { getGpu } from "../deno.ts";
import { tileFromEnvironment } from "./bench_args.ts";
import { uniformTensor } from "./bench_inputs.ts";
import { benchGflops } from "./gflops.ts";

const gpu = await getGpu();
const RUNS = 2;
const TILE: ConvTile | undefined = tileFromEnvironment("CONV_TILE", [
  "pixelsPerLane",
  "channelsPerLane",
  "texelsPerStep",
]);

interface ConvCase {
  inChannels: number;
  outChannels: number;
  size: number;
  kernelSize: 1 | 3;
}

function benchConv(c: ConvCase): void {
  const { inChannels, outChannels, size, kernelSize } = c;
  const x = uniformTensor(gpu, [1, inChannels, size, size], 1);
  const w = uniformTensor(gpu, [outChannels, inChannels, kernelSize, kernelSize], 0.02);
  const b = uniformTensor(gpu, [outChannels], 0.1);
  benchGflops(gpu, {
    name: `conv ${kernelSize}×${kernelSize} ${inChannels}→${outChannels} at ${size}²`,
    flops: convFlops(1, inChannels, outChannels, kernelSize, size, size),
    launch: () => conv2d(x, w, b, { tile: TILE }),
  }, RUNS);
}

const CASES: ConvCase[] = [
  { inChannels: 512, outChannels: 512, size: 32, kernelSize: 3 },
  { inChannels: 512, outChannels: 512, size: 64, kernelSize: 3 },
  { inChannels: 256, outChannels: 256, size: 128, kernelSize: 3 },
  { inChannels: 128, outChannels: 128, size: 256, kernelSize: 3 },
  { inChannels: 256, outChannels: 128, size: 256, kernelSize: 1 },
];
const picked = Deno.env.get("CONV_CASES")?.split(",").map(Number);
for (const [i, c] of CASES.entries()) if (!picked || picked.includes(i)) benchConv(c);
