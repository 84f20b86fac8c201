/** Launchers for patch embedding and unpatchify. */

import { laneWidth, mapInvocations } from "../../shaders/elementwise.ts";
import { patchEmbedInvocations, patchEmbedWgsl, unpatchifyWgsl } from "../../shaders/patch.ts";
import { ShapeError } from "../errors.ts";
import { expectShape, Tensor } from "../tensor.ts";
import { dispatchFlat, expectF32 } from "./elementwise.ts";

function expectPatch(op: string, patch: number): void {
  if (!Number.isInteger(patch) || patch < 1) {
    throw new ShapeError(`${op}: patch size must be a positive integer, got ${patch}`);
  }
}

/**
 * Conv2d with kernel = stride = patch, written as tokens: x [B, Cin, H, W], weight
 * [C, Cin, p, p], bias [C] → [B, (H/p)·(W/p), C], token n = row·(W/p) + col.
 */
export function patchEmbed(x: Tensor, weight: Tensor, bias: Tensor, patch: number): Tensor {
  const op = "patchEmbed";
  expectF32(op, x, weight, bias);
  expectPatch(op, patch);
  if (x.shape.length !== 4) {
    throw new ShapeError(`${op}: expected x of shape [B, Cin, H, W], got [${x.shape}]`);
  }
  const [batch, inChannels, height, width] = x.shape;
  if (height % patch !== 0 || width % patch !== 0) {
    throw new ShapeError(
      `${op}: height ${height} and width ${width} of x [${x.shape}] must be multiples of the patch size ${patch}`,
    );
  }
  const outChannels = weight.shape[0];
  expectShape(weight, [-1, inChannels, patch, patch], `${op} weight`);
  expectShape(bias, [outChannels], `${op} bias`);
  const tokens = (height / patch) * (width / patch);
  const out = Tensor.empty(x.gpu, [batch, tokens, outChannels], "f32", op);
  if (out.size === 0) return out;
  const lanes = laneWidth(outChannels);
  const shape = { batch, inChannels, height, width, outChannels, patch };
  dispatchFlat(
    op,
    patchEmbedInvocations(shape, lanes),
    [x, weight, bias, out],
    (rowInvocations) => patchEmbedWgsl(shape, lanes, rowInvocations),
  );
  return out;
}

/**
 * Tokens back to an image: x [B, N = gridH·gridW, p·p·Cout] → [B, Cout, gridH·p, gridW·p],
 * with token vector index (pr·p + pc)·Cout + c as in diffusers' DiT.
 */
export function unpatchify(
  x: Tensor,
  outChannels: number,
  patch: number,
  gridH: number,
  gridW: number,
): Tensor {
  const op = "unpatchify";
  expectF32(op, x);
  expectPatch(op, patch);
  expectShape(x, [-1, gridH * gridW, patch * patch * outChannels], op);
  const batch = x.shape[0];
  const out = Tensor.empty(x.gpu, [batch, outChannels, gridH * patch, gridW * patch], "f32", op);
  if (out.size === 0) return out;
  dispatchFlat(
    op,
    mapInvocations(out.size, 1),
    [x, out],
    (rowInvocations) => unpatchifyWgsl(batch, outChannels, patch, gridH, gridW, rowInvocations),
  );
  return out;
}
