/**
 * PNG container pieces shared by the still and animated encoders (PNG spec, 3rd edition):
 * the signature, CRC-32 framed chunks, the IHDR header and zlib compression.
 */

import { OptionError, ShapeError } from "../errors.ts";
import { concatBytes } from "./bytes.ts";

const PNG_SIGNATURE: Uint8Array = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
]);

/** PNG color type per channel count (8-bit samples): grayscale, RGB, RGBA. */
export const COLOR_TYPE: Readonly<Record<1 | 3 | 4, number>> = { 1: 0, 3: 2, 4: 6 };

/** The reflected CRC-32 table for polynomial 0xEDB88320, the one PNG and zlib use. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of the concatenated `parts`. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** One chunk: length, 4-letter type, data, CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  if (data.length > 0x7fffffff) throw new OptionError(`PNG chunk ${type} is too large`);
  const typeBytes = new TextEncoder().encode(type);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(typeBytes, data));
  return out;
}

/** IHDR for 8-bit samples, no interlacing. */
function ihdrChunk(width: number, height: number, channels: 1 | 3 | 4): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data[8] = 8;
  data[9] = COLOR_TYPE[channels];
  // Bytes 10–12 stay 0: deflate compression, adaptive filtering, no interlace.
  return pngChunk("IHDR", data);
}

/** zlib (RFC 1950) stream: CompressionStream's "deflate" format is zlib-wrapped, as PNG needs. */
export async function zlibCompress(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A whole PNG file: the signature, IHDR, then `chunks` (image data and the like), then IEND. */
export function pngFile(
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  chunks: readonly Uint8Array[],
): Uint8Array {
  return concatBytes([
    PNG_SIGNATURE,
    ihdrChunk(width, height, channels),
    ...chunks,
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** Validates the image arguments every encoder shares. */
export function checkImage(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new OptionError(`PNG size ${width}×${height} must be positive integers`);
  }
  if (width > 0x7fffffff || height > 0x7fffffff) {
    throw new OptionError(`PNG size ${width}×${height} is too large`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new OptionError(`PNG channels must be 1, 3 or 4, got ${channels}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new ShapeError(
      `PNG pixels hold ${pixels.length} bytes, ${width}×${height}×${channels} needs ` +
        `${width * height * channels}`,
    );
  }
}
