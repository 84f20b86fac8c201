/**
 * Animated PNG encoder (APNG 1.0: acTL, fcTL, fdAT chunks), for showing a sampling trajectory
 * step by step. Every frame covers the whole canvas and replaces it, which keeps the format
 * choices trivially right; viewers without APNG support show the first frame.
 */

import { OptionError } from "../errors.ts";
import { filterScanlines, type PngChannels, type PngOptions } from "./png.ts";
import { checkImage, pngChunk, pngFile, zlibCompress } from "./png_chunks.ts";

export interface ApngOptions extends PngOptions {
  /** Display time of each frame in milliseconds (1–65535); default 100. */
  frameMs?: number;
  /** Times to play the animation; 0 (default) loops forever. */
  loops?: number;
}

/** fcTL: sequence number, full-canvas region, delay as frameMs/1000 s, no dispose, replace. */
function frameControl(
  sequence: number,
  width: number,
  height: number,
  frameMs: number,
): Uint8Array {
  const data = new Uint8Array(26);
  const view = new DataView(data.buffer);
  view.setUint32(0, sequence);
  view.setUint32(4, width);
  view.setUint32(8, height);
  // Offsets (12, 16) stay 0.
  view.setUint16(20, frameMs);
  view.setUint16(22, 1000);
  // dispose_op 0 (none) and blend_op 0 (source) stay 0.
  return pngChunk("fcTL", data);
}

/** Encodes equally sized 8-bit frames as an animated PNG. */
export async function encodeApng(
  frames: readonly Uint8Array[],
  width: number,
  height: number,
  channels: PngChannels,
  options: ApngOptions = {},
): Promise<Uint8Array> {
  const frameMs = options.frameMs ?? 100;
  const loops = options.loops ?? 0;
  if (frames.length === 0) throw new OptionError("encodeApng: no frames");
  if (!Number.isInteger(frameMs) || frameMs < 1 || frameMs > 0xffff) {
    throw new OptionError(`encodeApng: frameMs must be an integer in 1–65535, got ${frameMs}`);
  }
  if (!Number.isInteger(loops) || loops < 0 || loops > 0x7fffffff) {
    throw new OptionError(`encodeApng: loops must be a non-negative integer, got ${loops}`);
  }
  for (const frame of frames) checkImage(frame, width, height, channels);
  const animationControl = new Uint8Array(8);
  new DataView(animationControl.buffer).setUint32(0, frames.length);
  new DataView(animationControl.buffer).setUint32(4, loops);
  const chunks = [pngChunk("acTL", animationControl)];
  // fcTL and fdAT share one sequence counter, which lets decoders detect lost or reordered chunks.
  let sequence = 0;
  for (let i = 0; i < frames.length; i++) {
    chunks.push(frameControl(sequence++, width, height, frameMs));
    const compressed = await zlibCompress(
      filterScanlines(frames[i], width, height, channels, options.filter),
    );
    if (i === 0) {
      // The first frame doubles as the default image, so non-APNG viewers still show it.
      chunks.push(pngChunk("IDAT", compressed));
    } else {
      const data = new Uint8Array(4 + compressed.length);
      new DataView(data.buffer).setUint32(0, sequence++);
      data.set(compressed, 4);
      chunks.push(pngChunk("fdAT", data));
    }
  }
  return pngFile(width, height, channels, chunks);
}
