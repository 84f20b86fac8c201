/** Writing generated videos: an animated PNG per video and one contact sheet of all frames. */

import { extname } from "node:path";
import { imageGrid } from "../src/io/image_grid.ts";
import { checkOutputPath, writeApng, writePng } from "../deno.ts";

/** `out.png` for one video; `out-0.png`, `out-1.png`, … for several. */
export function videoPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = extname(out);
  const stem = ext ? out.slice(0, -ext.length) : out;
  return Array.from({ length: count }, (_, i) => `${stem}-${i}${ext || ".png"}`);
}

/** The contact sheet's default path: `out-sheet.png` beside the animation. */
export function sheetPath(out: string): string {
  const ext = extname(out);
  return `${ext ? out.slice(0, -ext.length) : out}-sheet${ext || ".png"}`;
}

/**
 * Writes one animated PNG of `frames` (planar [3, height, width] in [0, 1]) playing at `fps`
 * (frame delays are whole milliseconds).
 */
export async function writeVideoApng(
  path: string,
  frames: readonly Float32Array[],
  height: number,
  width: number,
  fps: number,
): Promise<void> {
  const bytes = frames.map((frame) =>
    imageGrid([frame], { channels: 3, height, width, cols: 1, rows: 1, pad: 0, range: "unit" })
      .pixels
  );
  await checkOutputPath(path);
  const frameMs = Math.min(0xffff, Math.max(1, Math.round(1000 / fps)));
  await writeApng(path, bytes, width, height, 3, { frameMs });
}

/** Writes every frame of every video as one PNG grid: a row per video, a column per frame. */
export async function writeContactSheet(
  path: string,
  videos: readonly (readonly Float32Array[])[],
  height: number,
  width: number,
): Promise<{ width: number; height: number }> {
  const frames = videos[0]?.length ?? 0;
  const grid = imageGrid(videos.flat(), {
    channels: 3,
    height,
    width,
    cols: Math.max(1, frames),
    rows: videos.length,
    range: "unit",
  });
  await checkOutputPath(path);
  await writePng(path, grid.pixels, grid.width, grid.height, grid.channels);
  return { width: grid.width, height: grid.height };
}
