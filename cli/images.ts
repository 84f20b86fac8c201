/** Turning a batch of samples into per-image arrays and PNG grids. */

import { imageGrid } from "../src/io/image_grid.ts";
import { checkOutputPath, writePng } from "../deno.ts";

/** Splits [B, C, H, W] samples into B planar images, cropping `border` pixels per side. */
export function splitImages(
  samples: Float32Array,
  shape: readonly number[],
  border = 0,
): Float32Array[] {
  const [batch, channels, height, width] = shape;
  const h = height - 2 * border, w = width - 2 * border;
  const images: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const image = new Float32Array(channels * h * w);
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < h; y++) {
        const from = ((b * channels + c) * height + y + border) * width + border;
        image.set(samples.subarray(from, from + w), (c * h + y) * w);
      }
    }
    images.push(image);
  }
  return images;
}

/**
 * Writes images ([C, H, W] in [-1, 1], or [0, 1] with range "unit") as one PNG grid; returns the
 * grid size.
 */
export async function writeImageGrid(
  path: string,
  images: readonly Float32Array[],
  size: { channels: number; height: number; width: number },
  cols?: number,
  range: "signed" | "unit" = "signed",
): Promise<{ width: number; height: number }> {
  const channels = size.channels as 1 | 3 | 4;
  const grid = imageGrid(images, {
    channels,
    height: size.height,
    width: size.width,
    cols,
    range,
  });
  await checkOutputPath(path);
  await writePng(path, grid.pixels, grid.width, grid.height, grid.channels);
  return { width: grid.width, height: grid.height };
}
