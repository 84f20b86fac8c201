/** Launchers for the video patch embedding (Conv3d with end padding) and its unpatchify. */

import { laneWidth, mapInvocations } from "../../shaders/elementwise.ts";
import {
  patchEmbed3dWgsl,
  tokenGrid,
  unpatchify3dWgsl,
  type VideoPatchShape,
} from "../../shaders/video_patch.ts";
import { ShapeError } from "../errors.ts";
import { expectShape, Tensor } from "../tensor.ts";
import { dispatchFlat, expectF32 } from "./elementwise.ts";

export { tokenGrid, type VideoPatchShape } from "../../shaders/video_patch.ts";

type Patch = readonly [number, number, number];

function expectPatch(op: string, patch: Patch): void {
  if (patch.length !== 3 || patch.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new ShapeError(`${op}: patch must be three positive integers, got [${patch}]`);
  }
}

/**
 * Conv3d with kernel = stride = patch over x [B, Cin, T, H, W], each axis zero-padded at its end
 * to whole patches: weight [C, Cin, pt, ph, pw], bias [C] → tokens [B, T'·H'·W', C] in
 * (frame, row, column) order.
 */
export function patchEmbed3d(x: Tensor, weight: Tensor, bias: Tensor, patch: Patch): Tensor {
  const op = "patchEmbed3d";
  expectF32(op, x, weight, bias);
  expectPatch(op, patch);
  if (x.shape.length !== 5) {
    throw new ShapeError(`${op}: expected x of shape [B, Cin, T, H, W], got [${x.shape}]`);
  }
  const [batch, channels, frames, height, width] = x.shape;
  const outChannels = weight.shape[0];
  expectShape(weight, [-1, channels, ...patch], `${op} weight`);
  expectShape(bias, [outChannels], `${op} bias`);
  const shape: VideoPatchShape = { batch, channels, frames, height, width, patch };
  const tokens = tokenGrid(shape).reduce((a, n) => a * n, 1);
  const out = Tensor.empty(x.gpu, [batch, tokens, outChannels], "f32", op);
  if (out.size === 0) return out;
  const lanes = laneWidth(outChannels);
  dispatchFlat(
    op,
    mapInvocations(out.size, lanes),
    [x, weight, bias, out],
    (rowInvocations) => patchEmbed3dWgsl(shape, outChannels, lanes, rowInvocations),
  );
  return out;
}

/**
 * Tokens [B, T'·H'·W', pt·ph·pw·C] → video [B, C, frames, height, width], dropping the padding
 * (T' = ⌈frames/pt⌉ and so on).
 */
export function unpatchify3d(
  x: Tensor,
  channels: number,
  patch: Patch,
  frames: number,
  height: number,
  width: number,
): Tensor {
  const op = "unpatchify3d";
  expectF32(op, x);
  expectPatch(op, patch);
  const batch = x.shape[0];
  const shape: VideoPatchShape = { batch, channels, frames, height, width, patch };
  const tokens = tokenGrid(shape).reduce((a, n) => a * n, 1);
  expectShape(x, [batch, tokens, patch[0] * patch[1] * patch[2] * channels], op);
  const out = Tensor.empty(x.gpu, [batch, channels, frames, height, width], "f32", op);
  if (out.size === 0) return out;
  dispatchFlat(
    op,
    mapInvocations(out.size, 1),
    [x, out],
    (rowInvocations) => unpatchify3dWgsl(shape, rowInvocations),
  );
  return out;
}
