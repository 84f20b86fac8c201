/** Launcher for the nearest ×2 upsample of NCHW tensors (diffusers' Upsample2D before its conv). */

import { ELEMENTWISE_WORKGROUP_SIZE, mapInvocations } from "../../shaders/elementwise.ts";
import { upsampleNearest2xWgsl } from "../../shaders/upsample.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";
import { chunkSlabs, sampleChunks, samplesPerBinding, slabBinding } from "./planes.ts";

/**
 * x [B, C, H, W] → [B, C, 2H, 2W], each value repeated in a 2×2 block. (conv2d's `upsample`
 * option folds this into a 3×3 conv without storing the 4× larger tensor.)
 */
export function upsampleNearest2x(x: Tensor): Tensor {
  if (x.dtype !== "f32" || x.shape.length !== 4) {
    throw new ShapeError(
      `upsampleNearest2x: x must be f32 [B, C, H, W], got ${x.dtype} [${x.shape}]`,
    );
  }
  const [batch, channels, height, width] = x.shape;
  const gpu = x.gpu;
  const outShape = [batch, channels, 2 * height, 2 * width];
  const out = Tensor.empty(gpu, outShape, "f32", "upsample");
  if (out.size === 0) return out;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  // The output is 4× the input: its slabs decide, and the input follows plane for plane.
  for (const chunk of sampleChunks(batch, samplesPerBinding(outShape, maxBinding))) {
    for (const slab of chunkSlabs(outShape, chunk, maxBinding)) {
      const planes = slab.sampleCount * slab.channelCount;
      const lanes = width % 2 === 0 ? planes * height * width : planes * 4 * height * width;
      const grid = flatGrid(mapInvocations(lanes, 1), ELEMENTWISE_WORKGROUP_SIZE);
      gpu.dispatch({
        name: "upsample-nearest2x",
        wgsl: upsampleNearest2xWgsl(planes, height, width, grid.rowInvocations),
        bindings: [slabBinding(x, slab), slabBinding(out, slab)],
        workgroups: grid.workgroups,
      });
    }
  }
  return out;
}
