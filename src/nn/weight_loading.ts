/** Loading weights from a tensor source onto the GPU, shared by every model family. */

import type { Gpu } from "../gpu/context.ts";
import type { TensorSource } from "../io/safetensors.ts";
import { type DType, Tensor } from "../tensor.ts";
import type { LinearWeights } from "./layers.ts";

export type { LinearWeights } from "./layers.ts";

/** Large matrices may be kept in f16; biases, tables and the patch conv stay f32. */
export async function loadFloat(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: DType,
): Promise<Tensor> {
  const shape = source.info(name).shape;
  if (dtype === "f16") {
    const half = await source.readFloat16(name);
    return Tensor.fromArray(gpu, Float32Array.from(half), shape, "f16", name);
  }
  return Tensor.fromArray(gpu, await source.readFloat32(name), shape, "f32", name);
}

export async function loadLinear(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  dtype: DType,
): Promise<LinearWeights> {
  return {
    weight: await loadFloat(gpu, source, `${name}.weight`, dtype),
    bias: await loadFloat(gpu, source, `${name}.bias`, "f32"),
  };
}

/** Stacks several [out, in] linears along `out` into one (q, k, v → qkv). */
export async function loadStackedLinear(
  gpu: Gpu,
  source: TensorSource,
  names: readonly string[],
  dtype: DType,
  label: string,
): Promise<LinearWeights> {
  const weights = await Promise.all(names.map((n) => source.readFloat32(`${n}.weight`)));
  const biases = await Promise.all(names.map((n) => source.readFloat32(`${n}.bias`)));
  const [out, inp] = source.info(`${names[0]}.weight`).shape;
  const weight = new Float32Array(names.length * out * inp);
  const bias = new Float32Array(names.length * out);
  weights.forEach((w, i) => weight.set(w, i * out * inp));
  biases.forEach((b, i) => bias.set(b, i * out));
  return {
    weight: Tensor.fromArray(gpu, weight, [names.length * out, inp], dtype, `${label}.weight`),
    bias: Tensor.fromArray(gpu, bias, [names.length * out], "f32", `${label}.bias`),
  };
}

/** Releases every tensor of a weight tree. */
export function releaseWeights(tree: unknown): void {
  if (tree instanceof Tensor) {
    tree.release();
  } else if (Array.isArray(tree)) {
    for (const item of tree) releaseWeights(item);
  } else if (tree && typeof tree === "object") {
    for (const value of Object.values(tree)) releaseWeights(value);
  }
}
