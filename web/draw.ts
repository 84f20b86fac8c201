/// <reference lib="dom" />
/**
 * Draws sampled images ([B, C, H, W] values in [-1, 1], straight from the tensors) onto a canvas
 * as a captioned grid; no image files in between.
 */

export interface GridLayout {
  /** Pixels cropped from every edge (tiny-fmnist pads 28×28 to 32×32). */
  cropBorder: number;
  /** Screen pixels per image pixel. */
  scale: number;
  columns: number;
}

const GAP = 6;
const CAPTION = 14;

/** Grey (1 channel) or RGB (3 channels) value at (c, y, x) of image b as a byte. */
function toByte(value: number): number {
  return Math.max(0, Math.min(255, Math.round((value + 1) * 127.5)));
}

export function drawGrid(
  canvas: HTMLCanvasElement,
  samples: Float32Array,
  shape: readonly number[],
  captions: readonly string[],
  layout: GridLayout,
): void {
  const [batch, channels, height, width] = shape;
  const crop = layout.cropBorder;
  const h = height - 2 * crop;
  const w = width - 2 * crop;
  const columns = Math.min(layout.columns, batch);
  const rows = Math.ceil(batch / columns);
  const tileW = w * layout.scale;
  const tileH = h * layout.scale;
  canvas.width = columns * (tileW + GAP) + GAP;
  canvas.height = rows * (tileH + CAPTION + GAP) + GAP;
  const context = canvas.getContext("2d");
  if (!context) throw new Error("this browser gave no 2D canvas context");
  context.fillStyle = "#111";
  context.fillRect(0, 0, canvas.width, canvas.height);
  const tile = document.createElement("canvas");
  tile.width = w;
  tile.height = h;
  const tileContext = tile.getContext("2d")!;
  const pixels = tileContext.createImageData(w, h);
  const plane = height * width;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = b * channels * plane + (y + crop) * width + (x + crop);
        const out = 4 * (y * w + x);
        for (let c = 0; c < 3; c++) {
          pixels.data[out + c] = toByte(samples[at + (channels === 3 ? c * plane : 0)]);
        }
        pixels.data[out + 3] = 255;
      }
    }
    tileContext.putImageData(pixels, 0, 0);
    const left = GAP + (b % columns) * (tileW + GAP);
    const top = GAP + Math.floor(b / columns) * (tileH + CAPTION + GAP);
    context.imageSmoothingEnabled = false;
    context.drawImage(tile, left, top, tileW, tileH);
    context.fillStyle = "#ddd";
    context.font = "11px system-ui, sans-serif";
    context.fillText(captions[b] ?? "", left, top + tileH + CAPTION - 3, tileW);
  }
}

/** Clears a grid canvas to its background. */
export function clearGrid(canvas: HTMLCanvasElement): void {
  const context = canvas.getContext("2d");
  context?.clearRect(0, 0, canvas.width, canvas.height);
}
