import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { OptionError, ShapeError } from "../src/errors.ts";
import { encodeApng } from "../src/io/apng.ts";
import { imageGrid } from "../src/io/image_grid.ts";
import { writePng } from "../deno.ts";
import { encodePng } from "../src/io/png.ts";
import { crc32 } from "../src/io/png_chunks.ts";

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Splits a PNG into chunks, checking the signature and every CRC on the way. */
function readChunks(png: Uint8Array): Chunk[] {
  deepStrictEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let at = 8;
  while (at < png.length) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    strictEqual(view.getUint32(at + 8 + length), crc32(png.subarray(at + 4, at + 8), data), type);
    chunks.push({ type, data });
    at += 12 + length;
  }
  strictEqual(at, png.length);
  return chunks;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  strictEqual(bytes[0] & 0x0f, 8, "zlib method deflate");
  strictEqual(((bytes[0] << 8) | bytes[1]) % 31, 0, "zlib header check");
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reverses the five PNG filters (an independent reading of the spec's definitions). */
function unfilter(scanlines: Uint8Array, width: number, height: number, bpp: number) {
  const stride = width * bpp;
  const out = new Uint8Array(stride * height);
  const types = new Set<number>();
  for (let y = 0; y < height; y++) {
    const type = scanlines[y * (stride + 1)];
    types.add(type);
    for (let x = 0; x < stride; x++) {
      const raw = scanlines[y * (stride + 1) + 1 + x];
      const a = x >= bpp ? out[y * stride + x - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predictor = [0, a, b, Math.floor((a + b) / 2), paeth][type];
      ok(predictor !== undefined, `filter type ${type}`);
      out[y * stride + x] = (raw + predictor) & 0xff;
    }
  }
  return { pixels: out, types };
}

function ihdr(chunk: Chunk) {
  const v = new DataView(chunk.data.buffer, chunk.data.byteOffset, 13);
  return {
    width: v.getUint32(0),
    height: v.getUint32(4),
    bitDepth: chunk.data[8],
    colorType: chunk.data[9],
    rest: [...chunk.data.subarray(10, 13)],
  };
}

/** Half smooth gradient (favours Sub/Up/Paeth), half noise (favours None). */
function testImage(width: number, height: number, channels: number): Uint8Array {
  const pixels = new Uint8Array(width * height * channels);
  let state = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        state = (state * 1103515245 + 12345) >>> 0;
        pixels[(y * width + x) * channels + c] = y < height / 2
          ? (x * 3 + y * 5 + c * 40) & 0xff
          : state >>> 24;
      }
    }
  }
  return pixels;
}

Deno.test("crc32 matches the standard check values", () => {
  strictEqual(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  strictEqual(crc32(new TextEncoder().encode("IEND")), 0xae426082);
});

for (const [channels, colorType] of [[1, 0], [3, 2], [4, 6]] as const) {
  for (const filter of ["adaptive", "none"] as const) {
    Deno.test(`PNG with ${channels} channels, ${filter} filtering, decodes to its input`, async () => {
      const [width, height] = [37, 22];
      const pixels = testImage(width, height, channels);
      const chunks = readChunks(await encodePng(pixels, width, height, channels, { filter }));
      deepStrictEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
      deepStrictEqual(ihdr(chunks[0]), { width, height, bitDepth: 8, colorType, rest: [0, 0, 0] });
      strictEqual(chunks[2].data.length, 0);
      const scanlines = await inflate(chunks[1].data);
      strictEqual(scanlines.length, height * (width * channels + 1));
      const decoded = unfilter(scanlines, width, height, channels);
      deepStrictEqual(decoded.pixels, pixels);
      if (filter === "none") deepStrictEqual([...decoded.types], [0]);
      else ok(decoded.types.size >= 2, `adaptive used filters ${[...decoded.types]}`);
    });
  }
}

Deno.test("writePng writes the file and size mistakes are rejected", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "one.png");
  await writePng(path, new Uint8Array([0, 128, 255]), 1, 1, 3);
  const chunks = readChunks(await Deno.readFile(path));
  deepStrictEqual([...(await inflate(chunks[1].data))], [0, 0, 128, 255]);
  await rejects(encodePng(new Uint8Array(5), 2, 2, 1), ShapeError);
  await rejects(encodePng(new Uint8Array(0), 0, 1, 1), OptionError);
  await rejects(encodePng(new Uint8Array(8), 2, 2, 2 as 1), OptionError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("APNG: control chunks, sequence numbers and every frame's pixels", async () => {
  const [width, height, channels] = [9, 7, 3] as const;
  const frames = [0, 1, 2].map((k) =>
    testImage(width, height, channels).map((v, i) => (v + k * 50 + i) & 0xff)
  );
  const png = await encodeApng(frames, width, height, channels, { frameMs: 250, loops: 2 });
  const chunks = readChunks(png);
  deepStrictEqual(chunks.map((c) => c.type), [
    "IHDR",
    "acTL",
    "fcTL",
    "IDAT",
    "fcTL",
    "fdAT",
    "fcTL",
    "fdAT",
    "IEND",
  ]);
  const u32 = (c: Chunk, at: number) =>
    new DataView(c.data.buffer, c.data.byteOffset).getUint32(at);
  const u16 = (c: Chunk, at: number) =>
    new DataView(c.data.buffer, c.data.byteOffset).getUint16(at);
  deepStrictEqual([u32(chunks[1], 0), u32(chunks[1], 4)], [3, 2]);
  const sequence = chunks.filter((c) => c.type === "fcTL" || c.type === "fdAT").map((c) =>
    u32(c, 0)
  );
  deepStrictEqual(sequence, [0, 1, 2, 3, 4]);
  for (const fc of chunks.filter((c) => c.type === "fcTL")) {
    strictEqual(fc.data.length, 26);
    deepStrictEqual([u32(fc, 4), u32(fc, 8), u32(fc, 12), u32(fc, 16)], [width, height, 0, 0]);
    deepStrictEqual([u16(fc, 20), u16(fc, 22), fc.data[24], fc.data[25]], [250, 1000, 0, 0]);
  }
  const frameData = [chunks[3].data, chunks[5].data.subarray(4), chunks[7].data.subarray(4)];
  for (let k = 0; k < 3; k++) {
    const decoded = unfilter(await inflate(frameData[k]), width, height, channels);
    deepStrictEqual(decoded.pixels, frames[k]);
  }
  await rejects(encodeApng([], 1, 1, 1), OptionError);
  await rejects(encodeApng(frames, width, height, channels, { frameMs: 0 }), OptionError);
});

Deno.test("imageGrid tiles [C,H,W] images with padding, clamping and rounding", () => {
  // Two 1-channel 2×2 images in a 1×3 grid (third cell empty), pad 1.
  const a = new Float32Array([-1, 0, 1, 2]); // signed: 0, 127.5→128, 255, clamped 255
  const b = new Float32Array([NaN, -5, 0.5, -0.5]);
  const grid = imageGrid([a, b], { channels: 1, height: 2, width: 2, rows: 1, cols: 3, pad: 1 });
  strictEqual(grid.width, 3 * 2 + 4);
  strictEqual(grid.height, 2 + 2);
  const row = (y: number) => [...grid.pixels.subarray(y * grid.width, (y + 1) * grid.width)];
  deepStrictEqual(row(0), Array(10).fill(255));
  deepStrictEqual(row(1), [255, 0, 128, 255, 0, 0, 255, 255, 255, 255]);
  deepStrictEqual(row(2), [255, 255, 255, 255, 191, 64, 255, 255, 255, 255]);

  // RGB, unit range: planar input becomes interleaved output.
  const rgb = new Float32Array([1, 0, /* G */ 0, 0.5, /* B */ 0, 1]);
  const one = imageGrid([rgb], { channels: 3, height: 1, width: 2, pad: 0, range: "unit" });
  deepStrictEqual([one.width, one.height, one.channels], [2, 1, 3]);
  deepStrictEqual([...one.pixels], [255, 0, 0, 0, 128, 255]);

  // Default layout: ceil(√5) = 3 columns, 2 rows.
  const five = imageGrid(Array(5).fill(new Float32Array(4)), {
    channels: 1,
    height: 2,
    width: 2,
    pad: 0,
  });
  deepStrictEqual([five.width, five.height], [6, 4]);
  throws(() => imageGrid([new Float32Array(3)], { channels: 1, height: 2, width: 2 }), ShapeError);
  throws(
    () => imageGrid(Array(3).fill(a), { channels: 1, height: 2, width: 2, rows: 1, cols: 2 }),
    OptionError,
  );
});
