/**
 * T5-XXL-shaped text encoder at full size (d_model 4096, 24 layers, 64 heads × 64, d_ff 10240,
 * vocab 32128: 4.76 B parameters) with random f16 weights made in memory (no file is written),
 * loaded as the PixArt and Open-Sora pipelines load their text encoder, then one 120-token
 * caption (PixArt-α) and one 300-token caption (PixArt-Σ) encoded. Reports the load and encode
 * seconds, the encoder's GFLOP/s, the peak of live GPU buffers, the linear kernels' weight
 * textures, the process RSS (current and peak) and whether the peak fits a 24 GiB machine.
 *
 *   deno run -A --unstable-webgpu bench/scale_t5.ts [--layers 24] [--tokens 120,300]
 *     [--dtype f16] [--json out/scale_t5.json]
 *
 * FLOPs: 2 per multiply-add of every linear (q, k, v, o, wi_0, wi_1, wo per block, per token)
 * plus the attention's q·kᵀ and weights·v (4·N²·H·d_kv per block); norms, GELU and the embedding
 * gather are left out (under 0.1%).
 */

import { parseT5Config, type T5Config, t5InnerDim } from "../models/t5/config.ts";
import { T5Encoder } from "../models/t5/encoder.ts";
import { expectedT5Shapes } from "../models/t5/weights.ts";
import { CheckpointError } from "../src/errors.ts";
import type { TensorInfo, TensorSource } from "../src/io/safetensors.ts";
import { linearCacheBytes } from "../src/ops/linear.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";
import { getGpu, writeBytes } from "../deno.ts";
import { benchArgs } from "./bench_args.ts";

const values = benchArgs({
  layers: "24",
  tokens: "120,300",
  dtype: "f16",
  json: "out/scale_t5.json",
});

/** google/t5-v1_1-xxl's config.json (the text encoder of PixArt-α/Σ and Open-Sora v1.1). */
const T5_XXL_CONFIG = {
  model_type: "t5",
  d_model: 4096,
  d_kv: 64,
  num_heads: 64,
  d_ff: 10240,
  num_layers: Number(values.layers),
  vocab_size: 32128,
  feed_forward_proj: "gated-gelu",
  dense_act_fn: "gelu_new",
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
};

const GIB = 2 ** 30;
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

/**
 * N(0, 0.02²) weights for any table of shapes, made fast enough for 4.76 B values: one block of
 * seeded Gaussian values, tiled from a per-tensor offset (the values matter only for speed).
 */
class TiledRandomSource implements TensorSource {
  readonly #block: Float32Array;
  readonly #offsets: Map<string, number>;

  constructor(readonly path: string, private readonly shapes: ReadonlyMap<string, number[]>) {
    this.#block = gaussianNoise(0, 0, 1_048_573, 0).map((v) => 0.02 * v);
    this.#offsets = new Map([...shapes.keys()].map((name, i) => [name, (i * 7919) % 1_048_573]));
  }

  names(): string[] {
    return [...this.shapes.keys()].sort();
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  info(name: string): TensorInfo {
    const shape = this.shapes.get(name);
    if (!shape) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    return { dtype: "F32", shape: [...shape], byteLength: 4 * shape.reduce((a, b) => a * b, 1) };
  }

  readFloat32(name: string): Promise<Float32Array> {
    const block = /^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight$/.exec(name);
    if (block && Number(block[1]) % 4 === 0) {
      log(`  block ${block[1]}: RSS ${(Deno.memoryUsage().rss / GIB).toFixed(2)} GiB`);
    }
    const size = this.info(name).shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(size);
    const tile = this.#block;
    let from = this.#offsets.get(name)!;
    for (let at = 0; at < size;) {
      const n = Math.min(tile.length - from, size - at);
      out.set(tile.subarray(from, from + n), at);
      at += n;
      from = 0;
    }
    return Promise.resolve(out);
  }

  async readFloat16(name: string): Promise<Float16Array> {
    return Float16Array.from(await this.readFloat32(name));
  }

  readInt(): Promise<Int32Array> {
    return Promise.reject(new Error("no integer tensors"));
  }

  async readRaw(name: string): Promise<Uint8Array> {
    return new Uint8Array((await this.readFloat32(name)).buffer);
  }

  close(): void {}
}

/** Resident and peak resident set size (Linux /proc; null elsewhere). */
async function residentBytes(): Promise<{ rss: number; peak: number | null }> {
  const rss = Deno.memoryUsage().rss;
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    const peak = /VmHWM:\s+(\d+) kB/.exec(status);
    return { rss, peak: peak ? Number(peak[1]) * 1024 : null };
  } catch {
    return { rss, peak: null };
  }
}

/** Multiply-adds × 2 of one pass over a sequence of n tokens. */
function encoderFlops(config: T5Config, n: number): number {
  const inner = t5InnerDim(config);
  const linearParams = 4 * inner * config.dModel + 3 * config.dFf * config.dModel;
  return config.numLayers * (2 * n * linearParams + 4 * n * n * inner);
}

const gpu = await getGpu();
log(`adapter: ${gpu.adapterDescription}`);
const config = parseT5Config(T5_XXL_CONFIG, "T5-XXL config");
const dtype = values.dtype === "f32" ? "f32" : "f16";
const noTensors = { has: () => false } as unknown as TensorSource;
const shapes = expectedT5Shapes(config, noTensors);
const parameters = [...shapes.values()].reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
log(`T5-XXL shape: ${config.numLayers} layers, ${(parameters / 1e9).toFixed(2)} B parameters`);
const source = new TiledRandomSource("random T5-XXL", shapes);

gpu.pool.resetPeak();
const started = performance.now();
const encoder = await T5Encoder.fromSource(gpu, T5_XXL_CONFIG, source, {
  dtype,
  freePackedWeights: true,
});
gpu.flush();
await gpu.device.queue.onSubmittedWorkDone();
const loadSeconds = (performance.now() - started) / 1000;
const afterLoad = {
  liveBufferBytes: gpu.pool.liveBytes,
  textureBytes: linearCacheBytes(gpu),
  ...await residentBytes(),
};
log(
  `loaded (${dtype}) in ${loadSeconds.toFixed(0)} s: buffers ${
    (afterLoad.liveBufferBytes / GIB).toFixed(2)
  } GiB, weight textures ${(afterLoad.textureBytes / GIB).toFixed(2)} GiB, RSS ${
    (afterLoad.rss / GIB).toFixed(2)
  } GiB`,
);

/** One full caption of `tokens` ids (ordinary pieces, then </s> = 1, no padding), encoded. */
async function encodeOnce(tokens: number): Promise<{ seconds: number; output: Float32Array }> {
  const ids = Int32Array.from({ length: tokens }, (_, i) => 3 + ((i * 7919) % 32000));
  ids[tokens - 1] = 1;
  const mask = new Int32Array(tokens).fill(1);
  const started = performance.now();
  const out = encoder.encode(ids, mask, 1, tokens).lastHiddenState;
  const output = await out.toFloat32();
  out.release();
  return { seconds: (performance.now() - started) / 1000, output };
}

// The first pass compiles every kernel's pipeline (Mesa caches them on disk afterwards).
const warmup = await encodeOnce(8);
log(`warm-up (8 tokens, compiles the kernels): ${warmup.seconds.toFixed(1)} s`);

const rows: Record<string, number>[] = [];
let peakTextures = afterLoad.textureBytes;
for (const tokens of values.tokens.split(",").map(Number)) {
  const { seconds, output } = await encodeOnce(tokens);
  peakTextures = Math.max(peakTextures, linearCacheBytes(gpu));
  if (!output.every(Number.isFinite)) throw new Error(`non-finite output at ${tokens} tokens`);
  const flops = encoderFlops(config, tokens);
  const row = { tokens, seconds, gflop: flops / 1e9, gflopPerSecond: flops / 1e9 / seconds };
  rows.push(row);
  log(
    `${tokens} tokens: ${seconds.toFixed(1)} s, ${row.gflop.toFixed(0)} GFLOP, ` +
      `${row.gflopPerSecond.toFixed(1)} GFLOP/s`,
  );
}
const end = await residentBytes();
const report = {
  adapter: gpu.adapterDescription,
  layers: config.numLayers,
  parameters,
  dtype,
  loadSeconds,
  warmupSeconds: warmup.seconds,
  encodes: rows,
  peakLiveBufferBytes: gpu.pool.peakLiveBytes,
  liveBufferBytesAfterLoad: afterLoad.liveBufferBytes,
  peakTextureBytes: peakTextures,
  rssAfterLoad: afterLoad.rss,
  rssEnd: end.rss,
  peakRss: end.peak,
  fits24GiB: (end.peak ?? end.rss) < 24 * GIB,
};
encoder.release();
await Deno.mkdir("out", { recursive: true });
await writeBytes(values.json, JSON.stringify(report, null, 1) + "\n");
const gib = (bytes: number | null) => bytes === null ? "–" : `${(bytes / GIB).toFixed(2)} GiB`;
console.log(`
| tokens | encode s | GFLOP | GFLOP/s |
|---|---|---|---|
${
  rows.map((r) =>
    `| ${r.tokens} | ${r.seconds.toFixed(1)} | ${r.gflop.toFixed(0)} | ${
      r.gflopPerSecond.toFixed(1)
    } |`
  ).join("\n")
}

load ${loadSeconds.toFixed(0)} s, warm-up ${warmup.seconds.toFixed(0)} s (${
  (parameters / 1e9).toFixed(2)
} B parameters, ${dtype}); peak live GPU buffers ${
  gib(report.peakLiveBufferBytes)
}; weight textures ${gib(peakTextures)}; RSS after load ${gib(afterLoad.rss)}, at the end ${
  gib(end.rss)
}, peak ${gib(end.peak)}; fits 24 GiB: ${report.fits24GiB ? "yes" : "no"}`);
