import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../src/errors.ts";
import { bf16BitsToFloat32, float32ToBf16Bits, float32ToF16Bits } from "../src/io/float_bits.ts";
import { loadTensor } from "../src/io/load_tensor.ts";
import { goldenDir, randomArray, testGpu } from "./helpers.ts";
import { openSafetensors, writeSafetensors } from "../deno.ts";

const fromBits = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];

Deno.test("BF16 and F16 conversions match hand-computed bit patterns", () => {
  const cases: [number, number][] = [
    [1.0, 0x3f80],
    [-2.0, 0xc000],
    [0.0, 0x0000],
    [-0.0, 0x8000],
    [Infinity, 0x7f80],
    [fromBits(0x3f808000), 0x3f80], // exact tie, even neighbour below
    [fromBits(0x3f818000), 0x3f82], // exact tie, even neighbour above
    [fromBits(0x3f808001), 0x3f81], // just above the tie
    [fromBits(0x3f807fff), 0x3f80], // just below the tie
    [fromBits(0x7f7fffff), 0x7f80], // float32 max rounds up to infinity
  ];
  const bf16 = float32ToBf16Bits(Float32Array.from(cases, ([x]) => x));
  cases.forEach(([x, bits], i) => strictEqual(bf16[i], bits, `bf16(${x})`));
  const nan = float32ToBf16Bits(new Float32Array([fromBits(0x7f800001)]))[0];
  ok((nan & 0x7f80) === 0x7f80 && (nan & 0x7f) !== 0, "NaN stays NaN");
  deepStrictEqual(
    [...bf16BitsToFloat32(new Uint16Array([0x3f80, 0xc000, 0x3f81]))],
    [1, -2, fromBits(0x3f810000)],
  );

  const f16 = float32ToF16Bits(
    new Float32Array([1, -2, 65504, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 0.1]),
  );
  deepStrictEqual([...f16], [0x3c00, 0xc000, 0x7bff, 0x7c00, 0x3c00, 0x3c02, 0x0001, 0x2e66]);
});

Deno.test("writer → reader round trip for every writable dtype", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "all.safetensors");
  const f32 = randomArray(2 * 3 * 5, 1);
  const ints = Int32Array.from([-7, 0, 3, 2147483647, -2147483648, 42]);
  await writeSafetensors(path, {
    "z.f32": { dtype: "F32", shape: [2, 3, 5], data: f32 },
    "a.f16": { dtype: "F16", shape: [30], data: f32 },
    "f16.raw": { dtype: "F16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    "f16.half": { dtype: "F16", shape: [3], data: new Float16Array([0.5, -1.5, 3]) },
    "b.bf16": { dtype: "BF16", shape: [5, 6], data: f32 },
    "i32": { dtype: "I32", shape: [6], data: ints },
    "i64": { dtype: "I64", shape: [2, 3], data: ints },
    "i64.big": { dtype: "I64", shape: [2], data: BigInt64Array.from([5n, -1n]) },
    "scalar": { dtype: "F32", shape: [], data: new Float32Array([7.5]) },
    "empty": { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    "lazy": { dtype: "BF16", shape: [2], data: () => Promise.resolve(new Float32Array([1, 2])) },
  }, { format: "pt", note: "round trip" });

  const bytes = await Deno.readFile(path);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  strictEqual((8 + headerLength) % 8, 0, "data section starts 8-byte aligned");
  strictEqual(bytes[8 + headerLength - 1] === 0x20 || bytes[8 + headerLength - 1] === 0x7d, true);

  const file = await openSafetensors(path);
  try {
    deepStrictEqual(file.names(), [
      "a.f16",
      "b.bf16",
      "empty",
      "f16.half",
      "f16.raw",
      "i32",
      "i64",
      "i64.big",
      "lazy",
      "scalar",
      "z.f32",
    ]);
    deepStrictEqual(file.metadata, { format: "pt", note: "round trip" });
    deepStrictEqual(file.info("z.f32"), { dtype: "F32", shape: [2, 3, 5], byteLength: 120 });
    deepStrictEqual(file.info("b.bf16"), { dtype: "BF16", shape: [5, 6], byteLength: 60 });
    deepStrictEqual(await file.readFloat32("z.f32"), f32);
    deepStrictEqual(await file.readFloat32("a.f16"), Float32Array.from(Float16Array.from(f32)));
    deepStrictEqual(await file.readFloat16("a.f16"), Float16Array.from(f32));
    deepStrictEqual(await file.readFloat16("z.f32"), Float16Array.from(f32));
    deepStrictEqual([...await file.readFloat32("f16.raw")], [1, -2]);
    deepStrictEqual([...await file.readFloat32("f16.half")], [0.5, -1.5, 3]);
    deepStrictEqual(await file.readFloat32("b.bf16"), bf16BitsToFloat32(float32ToBf16Bits(f32)));
    deepStrictEqual(await file.readRaw("lazy"), new Uint8Array([0x80, 0x3f, 0x00, 0x40]));
    deepStrictEqual(await file.readInt("i32"), ints);
    deepStrictEqual(await file.readInt("i64"), ints);
    deepStrictEqual([...await file.readInt("i64.big")], [5, -1]);
    deepStrictEqual([...await file.readFloat32("scalar")], [7.5]);
    strictEqual((await file.readFloat32("empty")).length, 0);
  } finally {
    file.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readers reject dtypes and values they cannot represent", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "ints.safetensors");
  await writeSafetensors(path, {
    wide: { dtype: "I64", shape: [2], data: BigInt64Array.from([1n, 2n ** 40n]) },
    floats: { dtype: "F32", shape: [1], data: new Float32Array([1]) },
  });
  const file = await openSafetensors(path);
  const bad = join(dir, "bad.safetensors");
  const named = (tensor: string, file = path) => (e: unknown) =>
    e instanceof CheckpointError && e.message.includes(file) && e.message.includes(tensor);
  await rejects(file.readInt("wide"), named('"wide"'));
  await rejects(file.readFloat32("wide"), named('"wide"'));
  await rejects(file.readInt("floats"), named('"floats"'));
  await rejects(async () => await file.readFloat32("absent"), named('"absent"'));
  let thrown: unknown;
  try {
    file.info("absent");
  } catch (e) {
    thrown = e;
  }
  ok(named('"absent"')(thrown));
  file.close();
  await rejects(file.readFloat32("floats"), CheckpointError);
  await rejects(
    writeSafetensors(bad, {
      narrow: { dtype: "I32", shape: [1], data: BigInt64Array.from([2n ** 40n]) },
    }),
    named('"narrow"', bad),
  );
  await rejects(
    writeSafetensors(bad, {
      short: { dtype: "F32", shape: [3], data: new Float32Array(2) },
    }),
    named('"short"', bad),
  );
  await rejects(
    writeSafetensors(bad, {
      mismatched: { dtype: "I32", shape: [1], data: new Float32Array(1) },
    }),
    named('"mismatched"', bad),
  );
  // A failed write leaves neither the target nor a temp file behind.
  deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ints.safetensors"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a failed write keeps the previous file intact", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "keep.safetensors");
  await writeSafetensors(path, { a: { dtype: "F32", shape: [1], data: new Float32Array([3]) } });
  await rejects(
    writeSafetensors(path, {
      a: { dtype: "F32", shape: [1], data: new Float32Array([4]) },
      b: {
        dtype: "F32",
        shape: [1],
        data: () => Promise.reject(new Error("producer failed")),
      },
    }),
    (e: unknown) =>
      e instanceof CheckpointError && e.message.includes('"b"') &&
      e.message.includes("producer failed"),
  );
  const file = await openSafetensors(path);
  deepStrictEqual([...await file.readFloat32("a")], [3]);
  file.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("reading a small tensor after a large one seeks straight to it", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "big.safetensors");
  const bigElements = 8 << 20; // 32 MiB of F32
  await writeSafetensors(path, {
    a_big: { dtype: "F32", shape: [bigElements], data: () => new Float32Array(bigElements) },
    b_small: { dtype: "F32", shape: [3], data: new Float32Array([1.5, -2.5, 3.25]) },
  });
  const file = await openSafetensors(path);
  // Concurrent reads share one handle; the queue must keep each seek with its read.
  const [small, again] = await Promise.all([
    file.readFloat32("b_small"),
    file.readFloat16("b_small"),
  ]);
  deepStrictEqual([...small], [1.5, -2.5, 3.25]);
  deepStrictEqual([...again], [1.5, -2.5, 3.25]);
  ok(file.fileSize > bigElements * 4);
  file.close();
  await Deno.remove(dir, { recursive: true });
});

/**
 * A safetensors file assembled byte by byte here (header JSON, then little-endian data through
 * DataView), so the expected values come from this test, not from our writer or a golden set.
 */
function handMadeFile(): { bytes: Uint8Array; x: number[]; t: bigint[] } {
  const x = [1.5, -2.25, 3, 0.125, -0, 65504];
  const t = [999n, 500n, 3n];
  const header = JSON.stringify({
    x: { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
    t: { dtype: "I64", shape: [3], data_offsets: [24, 48] },
    h: { dtype: "F16", shape: [2], data_offsets: [48, 52] },
    __metadata__: { source: "hand-made" },
  });
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + 52);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  const data = 8 + json.length;
  x.forEach((v, i) => view.setFloat32(data + 4 * i, v, true));
  t.forEach((v, i) => view.setBigInt64(data + 24 + 8 * i, v, true));
  view.setUint16(data + 48, 0x3c00, true); // 1.0 in f16
  view.setUint16(data + 50, 0xc500, true); // -5.0 in f16
  return { bytes, x, t };
}

Deno.test("a file written here: names, shapes, dtypes and values", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "hand.safetensors");
  const { bytes, x, t } = handMadeFile();
  await Deno.writeFile(path, bytes);
  const file = await openSafetensors(path);
  deepStrictEqual(file.names(), ["h", "t", "x"]);
  deepStrictEqual(file.metadata, { source: "hand-made" });
  deepStrictEqual(file.info("x"), { dtype: "F32", shape: [2, 3], byteLength: 24 });
  deepStrictEqual(file.info("t"), { dtype: "I64", shape: [3], byteLength: 24 });
  deepStrictEqual([...await file.readFloat32("x")], x);
  deepStrictEqual([...await file.readInt("t")], t.map(Number));
  deepStrictEqual([...await file.readFloat32("h")], [1, -5]);
  file.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("golden forward file: names, shapes and dtypes as its own header says", async () => {
  // Every value comes from the golden set, so another seed's set (GOLDEN_DIR) passes too.
  const forward = await openSafetensors(
    join(goldenDir(), "dit-tiny-random/forward.safetensors"),
  );
  deepStrictEqual(forward.names(), ["out", "t", "x", "y"]);
  const [batch, channels, height, width] = forward.info("x").shape;
  deepStrictEqual(forward.info("out").shape, [batch, 2 * channels, height, width]);
  strictEqual(forward.info("x").dtype, "F32");
  strictEqual(forward.info("t").dtype, "I64");
  strictEqual((await forward.readInt("t")).length, batch);
  strictEqual((await forward.readInt("y")).length, batch);
  strictEqual((await forward.readFloat32("x")).length, batch * channels * height * width);
  forward.close();
});

Deno.test("the embedded tiny-fmnist checkpoint opens", async () => {
  const modelPath =
    new URL("../assets/tiny-fmnist/diffusion_pytorch_model.safetensors", import.meta.url)
      .pathname;
  const model = await openSafetensors(modelPath);
  strictEqual(model.names().length, 120);
  deepStrictEqual(model.metadata, { format: "pt" });
  deepStrictEqual(model.info("pos_embed.proj.weight").shape, [128, 1, 2, 2]);
  strictEqual((await model.readFloat32("pos_embed.proj.bias")).length, 128);
  model.close();
});

Deno.test("loadTensor uploads f32, f16 and i32 tensors", async () => {
  const gpu = await testGpu();
  const forward = await openSafetensors(
    join(goldenDir(), "dit-tiny-random/forward.safetensors"),
  );
  const x = await forward.readFloat32("x");
  const asF32 = await loadTensor(gpu, forward, "x", "f32");
  const asF16 = await loadTensor(gpu, forward, "x", "f16");
  const labels = await loadTensor(gpu, forward, "y", "i32");
  deepStrictEqual(asF32.shape, forward.info("x").shape);
  strictEqual(asF16.dtype, "f16");
  deepStrictEqual(await asF32.toFloat32(), x);
  deepStrictEqual(await asF16.toFloat32(), Float32Array.from(Float16Array.from(x)));
  deepStrictEqual([...await labels.toFloat32()], [...await forward.readInt("y")]);
  await rejects(loadTensor(gpu, forward, "t", "f32"), CheckpointError);
  for (const t of [asF32, asF16, labels]) t.release();
  forward.close();
});
