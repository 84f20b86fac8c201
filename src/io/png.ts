/**
 * PNG encoder for 8-bit grayscale, RGB and RGBA images, written from the PNG specification.
 * Each row gets the filter that minimises the sum of absolute filtered bytes (the heuristic
 * the spec recommends), which usually compresses generated images much better than none.
 */

import { checkImage, pngChunk, pngFile, zlibCompress } from "./png_chunks.ts";

export type PngChannels = 1 | 3 | 4;

export interface PngOptions {
  /** "adaptive" picks a filter per row; "none" writes filter type 0 everywhere (faster). */
  filter?: "adaptive" | "none";
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Writes `row` filtered with `type` (0–4) into `out`; `prev` is the previous raw row. */
function filterRow(
  type: number,
  row: Uint8Array,
  prev: Uint8Array | null,
  bpp: number,
  out: Uint8Array,
): void {
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = prev ? prev[i] : 0;
    const c = prev && i >= bpp ? prev[i - bpp] : 0;
    let predicted = 0;
    if (type === 1) predicted = a;
    else if (type === 2) predicted = b;
    else if (type === 3) predicted = (a + b) >> 1;
    else if (type === 4) predicted = paeth(a, b, c);
    out[i] = (row[i] - predicted) & 0xff;
  }
}

/** Treating filtered bytes as signed makes small residuals of either sign score low. */
function residualCost(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i] < 128 ? bytes[i] : 256 - bytes[i];
  return sum;
}

/** The filtered scanlines (one filter-type byte then the row) that IDAT compresses. */
export function filterScanlines(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
  filter: "adaptive" | "none" = "adaptive",
): Uint8Array {
  const stride = width * channels;
  const out = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    const target = out.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    let bestType = 0;
    target.set(row);
    if (filter === "adaptive") {
      let bestCost = residualCost(target);
      for (let type = 1; type <= 4; type++) {
        filterRow(type, row, prev, channels, candidate);
        const cost = residualCost(candidate);
        if (cost < bestCost) {
          bestCost = cost;
          bestType = type;
          target.set(candidate);
        }
      }
    }
    out[y * (stride + 1)] = bestType;
  }
  return out;
}

/** Encodes row-major, channel-interleaved 8-bit pixels as a PNG file. */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
  options: PngOptions = {},
): Promise<Uint8Array> {
  checkImage(pixels, width, height, channels);
  const scanlines = filterScanlines(pixels, width, height, channels, options.filter);
  return pngFile(width, height, channels, [pngChunk("IDAT", await zlibCompress(scanlines))]);
}
