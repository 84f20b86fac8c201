/**
 * Loading over HTTP as a page does: a sharded checkpoint (index + 2 shards) served by the page's
 * static server with and without Range support, read through `urlFolder` (and `cachedFolder`,
 * which without OPFS must read through), against the same model loaded from disk.
 */

import { cachedFolder, safetensorsBytes, ShardedCheckpoint, urlFolder } from "../mod.ts";
import { DiTModel } from "../models/dit/model.ts";
import { concatBytes, readStreamChunks } from "../src/io/bytes.ts";
import type { WritableDtype } from "../src/io/safetensors_writer.ts";
import { Tensor } from "../src/tensor.ts";
import { localFolder, openSafetensors } from "../deno.ts";
import { parseRange, serveStatic } from "../web/static_server.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";

const ASSET = new URL("../assets/tiny-fmnist/", import.meta.url).pathname;
const WEIGHTS = `${ASSET}diffusion_pytorch_model.safetensors`;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * tiny-fmnist split into two shards (tensors in name order, cut in the middle) with the
 * Hugging Face index, in a temporary folder with the config.
 */
async function shardedCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ditfastattn-sharded-" });
  const source = await openSafetensors(WEIGHTS);
  try {
    const names = source.names().sort();
    const halves = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    for (const [i, half] of halves.entries()) {
      const file = `diffusion_pytorch_model-0000${i + 1}-of-00002.safetensors`;
      const tensors: Record<string, { dtype: WritableDtype; shape: number[]; data: Float32Array }> =
        {};
      for (const name of half) {
        const info = source.info(name);
        assert(info.dtype === "F32", `${name}: the fixture expects F32, got ${info.dtype}`);
        tensors[name] = {
          dtype: "F32",
          shape: [...info.shape],
          data: await source.readFloat32(name),
        };
        weightMap[name] = file;
        totalSize += info.byteLength;
      }
      await Deno.writeFile(`${dir}/${file}`, concatBytes(await safetensorsBytes(tensors)));
    }
    await Deno.writeTextFile(
      `${dir}/diffusion_pytorch_model.safetensors.index.json`,
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }),
    );
    await Deno.copyFile(`${ASSET}config.json`, `${dir}/config.json`);
  } finally {
    source.close();
  }
  return dir;
}

/** One forward pass at a fixed input (the same for every load). */
async function forwardOf(model: DiTModel): Promise<Float32Array> {
  const gpu = model.gpu;
  const x = Tensor.fromArray(
    gpu,
    new Float32Array(2 * 32 * 32).map((_, i) => Math.sin(i * 0.37)),
    [2, 1, 32, 32],
  );
  const y = Tensor.fromArray(gpu, Int32Array.of(3, 10), [2], "i32");
  const out = model.forward(x, 480, y);
  const values = await out.toFloat32();
  for (const t of [x, y, out]) t.release();
  return values;
}

for (const ranges of [true, false]) {
  Deno.test(`a sharded checkpoint loads over HTTP ${ranges ? "with" : "without"} Range support, equal to the disk copy`, async () => {
    const dir = await shardedCopy();
    const statuses: number[] = [];
    let rangeRequests = 0;
    const server = await serveStatic({
      roots: [{ prefix: "/", dir }],
      ranges,
      onRequest: (request) => {
        if (request.headers.has("range")) rangeRequests++;
      },
    });
    const counting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const disk = await openSafetensors(WEIGHTS);
    try {
      // Every tensor, byte for byte, through the index and both shards.
      const remote = await ShardedCheckpoint.open(urlFolder(server.url, counting));
      assert(remote.shards.length === 2, `expected 2 shards, opened ${remote.shards.length}`);
      assert(
        remote.names().length === disk.names().length,
        `${remote.names().length} tensors over HTTP, ${disk.names().length} on disk`,
      );
      for (const name of disk.names()) {
        const [a, b] = [await remote.readRaw(name), await disk.readRaw(name)];
        assert(a.length === b.length && a.every((v, i) => v === b[i]), `tensor ${name} differs`);
      }
      remote.close();
      // Range reads exactly when the server honours them (else one streamed body per shard).
      const partial = statuses.filter((s) => s === 206).length;
      assert(rangeRequests > 0, "the loader sent no Range request");
      assert(
        ranges ? partial > 2 : partial === 0,
        `${partial} ranged (206) answers with ranges ${ranges ? "on" : "off"}`,
      );

      // The model from the sharded URL folder (through cachedFolder, which has no OPFS in Deno
      // and must say so and read through) computes what the disk model computes.
      const events: string[] = [];
      const folder = cachedFolder(urlFolder(server.url), {
        onFile: (e) => events.push(`${e.source}:${e.reason ?? ""}`),
      });
      const gpu = await testGpu();
      const fromUrl = await DiTModel.load(gpu, folder);
      const fromDisk = await DiTModel.load(gpu, localFolder(ASSET));
      assertRelativeError(await forwardOf(fromUrl), await forwardOf(fromDisk), 0, "forward");
      fromUrl.release();
      fromDisk.release();
      assert(events.length > 0, "cachedFolder reported no file");
      assert(
        events.every((e) => e === "uncached:no OPFS here"),
        `without OPFS every file is read through, got ${events.join(", ")}`,
      );
    } finally {
      disk.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a body streamed without ranges is kept in chunks of at most the chunk size", async () => {
  const bytes = new Uint8Array(1000).map((_, i) => i * 7);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 333) controller.enqueue(bytes.slice(at, at + 333));
      controller.close();
    },
  });
  const chunks = await readStreamChunks(stream, 256);
  assert(chunks.every((c) => c.length <= 256), `chunk sizes ${chunks.map((c) => c.length)}`);
  assert(chunks.length === 4, `expected 4 chunks, got ${chunks.length}`);
  const joined = concatBytes(chunks);
  assert(
    joined.length === bytes.length && joined.every((v, i) => v === bytes[i]),
    "chunks do not join back to the body",
  );
});

Deno.test("the static server parses single byte ranges and refuses unsatisfiable ones", () => {
  const cases: [string | null, number, ReturnType<typeof parseRange>][] = [
    [null, 10, null],
    ["bytes=0-0", 10, [0, 0]],
    ["bytes=2-", 10, [2, 9]],
    ["bytes=-3", 10, [7, 9]],
    ["bytes=5-100", 10, [5, 9]],
    ["bytes=10-", 10, "bad"],
    ["bytes=4-2", 10, "bad"],
    ["bytes=0-1,4-5", 10, "bad"],
    ["items=0-1", 10, "bad"],
  ];
  for (const [header, size, expected] of cases) {
    const got = parseRange(header, size);
    assert(
      JSON.stringify(got) === JSON.stringify(expected),
      `${header} of ${size}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`,
    );
  }
});
