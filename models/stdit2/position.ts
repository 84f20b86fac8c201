/**
 * STDiT2's spatial position embedding (Open-Sora `get_2d_sincos_pos_embed` with `scale` and
 * `base_size`), shared by every frame. Not stored in checkpoints: computed for each token grid.
 */

import { OptionError } from "../../src/errors.ts";
import { sincosFrequencies, sincosTable2d } from "../../src/ops/embedding.ts";
import { roundHalfEven } from "../../src/sampling/noise_schedule.ts";

/** How the grid positions are stretched: from the pixel size of sample 0 and the token count. */
export interface PositionScale {
  /** √(height·width) / input_sq_size. */
  scale: number;
  /** round(√S) for S tokens per frame (Python rounding). */
  baseSize: number;
}

export function positionScale(
  pixelHeight: number,
  pixelWidth: number,
  inputSqSize: number,
  tokensPerFrame: number,
): PositionScale {
  return {
    scale: Math.sqrt(pixelHeight * pixelWidth) / inputSqSize,
    baseSize: roundHalfEven(Math.sqrt(tokensPerFrame)),
  };
}

/**
 * Positions i/scale·(base/n) for i < n, formed as numpy does on a float32 arange: each operation
 * rounds to float32 with the Python-float operand rounded to float32 first.
 */
function axisPositions(n: number, { scale, baseSize }: PositionScale): Float32Array {
  const f = Math.fround;
  const scale32 = f(scale);
  const stretch = f(baseSize / n);
  return Float32Array.from({ length: n }, (_, i) => f(f(i / scale32) * stretch));
}

/**
 * The table [gridH·gridW, width] for tokens in row-major order: token (r, c) is
 * [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)] with x from the column and y from the row,
 * ω_k = 10000^(−k/(width/4)); products and sinusoids in float64 (the float32 positions meet a
 * float64 ω), rounded once to float32.
 */
export function stdit2PositionEmbedding(
  width: number,
  gridH: number,
  gridW: number,
  stretch: PositionScale,
): Float32Array {
  if (!Number.isInteger(width) || width % 4 !== 0 || width <= 0) {
    throw new OptionError(
      `position embedding: width must be a positive multiple of 4, got ${width}`,
    );
  }
  if (!(stretch.scale > 0) || !(stretch.baseSize > 0)) {
    throw new OptionError(
      `position embedding: scale ${stretch.scale} and base size ${stretch.baseSize} must be positive`,
    );
  }
  return sincosTable2d(
    axisPositions(gridH, stretch),
    axisPositions(gridW, stretch),
    sincosFrequencies(width),
  );
}
