/** Uploading one checkpoint tensor to the GPU in the dtype the model computes in. */

import { CheckpointError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { Tensor } from "../tensor.ts";
import type { TensorSource } from "./safetensors.ts";

/** F64 is left out of f16 loading: via float32 it would round twice. */
const LOADABLE: Readonly<Record<"f32" | "f16", readonly string[]>> = {
  f32: ["F32", "F16", "BF16", "F64"],
  f16: ["F32", "F16", "BF16"],
};

/**
 * Reads `name` from `source` and uploads it as an f32, f16 or i32 tensor with the stored shape.
 * f16 rounds F32/BF16 weights to nearest even; F16 weights arrive unchanged.
 */
export async function loadTensor(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: "f32" | "f16" | "i32",
): Promise<Tensor> {
  const { dtype: stored, shape } = source.info(name);
  if (dtype === "i32") {
    return Tensor.fromArray(gpu, await source.readInt(name), shape, "i32", name);
  }
  if (!LOADABLE[dtype].includes(stored)) {
    throw new CheckpointError(
      `${source.path}: tensor "${name}" has dtype ${stored}, which cannot be loaded as ${dtype}`,
    );
  }
  // Tensor.fromArray rounds float32 to f16 itself, and widening stored F16/BF16 is exact,
  // so going through float32 never rounds twice.
  return Tensor.fromArray(gpu, await source.readFloat32(name), shape, dtype, name);
}
