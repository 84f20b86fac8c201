/**
 * Tiling model outputs ([C, H, W] float images) into one 8-bit interleaved image for a PNG:
 * the form samples are inspected and compared in.
 */

import { OptionError, ShapeError } from "../errors.ts";

export interface ImageGridOptions {
  /** Channels per image: 1 (grayscale), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 3 | 4;
  height: number;
  width: number;
  /** Grid columns; default ceil(√n). */
  cols?: number;
  /** Grid rows; default just enough for all images. */
  rows?: number;
  /** Pixels between and around tiles; default 2. */
  pad?: number;
  /** "signed" maps [-1, 1] to [0, 255] (decoder/diffusion outputs); "unit" maps [0, 1]. */
  range?: "unit" | "signed";
  /** Value (0–255) of padding and empty cells; default 255 (white). */
  background?: number;
}

export interface GridImage {
  /** Row-major, channel-interleaved (HWC) 8-bit pixels. */
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** Float sample → byte, the way diffusers' pipelines do: clamp to [0, 1], scale, round. */
function toByte(value: number, signed: boolean): number {
  const unit = signed ? value / 2 + 0.5 : value;
  // Written as a negated comparison so NaN lands here too: a black pixel, not garbage.
  if (!(unit > 0)) return 0;
  if (unit >= 1) return 255;
  return Math.round(unit * 255);
}

/** Places `images` (each planar [C, H, W]) row by row into a grid. */
export function imageGrid(images: readonly Float32Array[], options: ImageGridOptions): GridImage {
  const { channels, height, width } = options;
  const pad = options.pad ?? 2;
  const cols = options.cols ?? Math.max(1, Math.ceil(Math.sqrt(images.length)));
  const rows = options.rows ?? Math.max(1, Math.ceil(images.length / cols));
  const background = options.background ?? 255;
  const signed = (options.range ?? "signed") === "signed";
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new OptionError(`imageGrid: channels must be 1, 3 or 4, got ${channels}`);
  }
  for (const [name, v] of [["height", height], ["width", width], ["cols", cols], ["rows", rows]]) {
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new OptionError(`imageGrid: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new OptionError(`imageGrid: pad must be a non-negative integer, got ${pad}`);
  }
  if (images.length > rows * cols) {
    throw new OptionError(`imageGrid: ${images.length} images do not fit ${rows}×${cols} cells`);
  }
  const plane = height * width;
  images.forEach((image, i) => {
    if (image.length !== channels * plane) {
      throw new ShapeError(
        `imageGrid: image ${i} has ${image.length} values, [${channels}, ${height}, ${width}] ` +
          `needs ${channels * plane}`,
      );
    }
  });
  const gridWidth = cols * width + (cols + 1) * pad;
  const gridHeight = rows * height + (rows + 1) * pad;
  const pixels = new Uint8Array(gridWidth * gridHeight * channels).fill(background);
  images.forEach((image, i) => {
    const top = pad + Math.floor(i / cols) * (height + pad);
    const left = pad + (i % cols) * (width + pad);
    for (let y = 0; y < height; y++) {
      let out = ((top + y) * gridWidth + left) * channels;
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          pixels[out++] = toByte(image[c * plane + y * width + x], signed);
        }
      }
    }
  });
  return { pixels, width: gridWidth, height: gridHeight, channels };
}
