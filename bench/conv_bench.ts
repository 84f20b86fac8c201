/**
 * conv2d at SD-VAE decoder shapes (batch 1): 3×3 convs of 512 channels at 32² and 64², 256 at
 * 128², 128 at 256², plus a 1×1 shortcut. Each case logs GFLOP/s (2·Cin·Cout·k²·H·W / best wall
 * time of a synced call) after its last iteration; the time includes packing the input texture.
 * CONV_TILE="pixels,channels,texels" overrides the register tile; CONV_CASES="0,2" picks cases.
 */

import { conv2d, convFlops, type ConvTile } from "../src/ops/conv.ts";
import { Tensor } from "../src/tensor.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const WARMUP = 1;
const RUNS = 2;

function tileFromEnvironment(): ConvTile | undefined {
  const spec = Deno.env.get("CONV_TILE");
  if (!spec) return undefined;
  const [pixelsPerLane, channelsPerLane, texelsPerStep] = spec.split(",").map(Number);
  return { pixelsPerLane, channelsPerLane, texelsPerStep };
}

function uniformArray(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.random() * 2 - 1) * scale;
  return out;
}

interface ConvCase {
  inChannels: number;
  outChannels: number;
  size: number;
  kernelSize: 1 | 3;
}

function benchConv(c: ConvCase): void {
  const { inChannels, outChannels, size, kernelSize } = c;
  const x = Tensor.fromArray(gpu, uniformArray(inChannels * size * size, 1), [
    1,
    inChannels,
    size,
    size,
  ]);
  const w = Tensor.fromArray(
    gpu,
    uniformArray(outChannels * inChannels * kernelSize * kernelSize, 0.02),
    [outChannels, inChannels, kernelSize, kernelSize],
  );
  const b = Tensor.fromArray(gpu, uniformArray(outChannels, 0.1), [outChannels]);
  const tile = tileFromEnvironment();
  const label = `conv ${kernelSize}×${kernelSize} ${inChannels}→${outChannels} at ${size}²`;
  let calls = 0;
  let bestMs = Infinity;
  Deno.bench({
    name: label,
    n: RUNS,
    warmup: WARMUP,
    async fn() {
      const start = performance.now();
      const y = conv2d(x, w, b, { tile });
      await gpu.sync();
      const ms = performance.now() - start;
      y.release();
      // The first call also compiles and packs the weight texture (cached afterwards).
      if (++calls > WARMUP) bestMs = Math.min(bestMs, ms);
      if (calls === WARMUP + RUNS) {
        const flops = convFlops(1, inChannels, outChannels, kernelSize, size, size);
        const gflops = flops / (bestMs * 1e6);
        console.log(`${label}: ${gflops.toFixed(1)} GFLOP/s (best ${bestMs.toFixed(1)} ms)`);
      }
    },
  });
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
