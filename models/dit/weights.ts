/** DiT weight names (diffusers layout), expected shapes, and loading onto the GPU. */

import type { Gpu } from "../../src/gpu/context.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import type { DType, Tensor } from "../../src/tensor.ts";
import {
  type LinearWeights,
  loadFloat,
  loadLinear,
  loadStackedLinear,
} from "../../src/nn/weight_loading.ts";
import type { DiTConfig } from "./config.ts";
import { keepWeightInTexture } from "../../src/ops/linear.ts";
import type { GpuWeight } from "../../src/nn/weight_check.ts";
import { checkedSource } from "../../src/nn/checked_source.ts";
import { patchTransformerShapes } from "../../src/nn/patch_transformer.ts";

export interface DiTBlockWeights {
  timestepLinear1: LinearWeights;
  timestepLinear2: LinearWeights;
  classTable: Tensor;
  adaLN: LinearWeights;
  /** to_q, to_k, to_v stacked into one [3C, C] projection. */
  qkv: LinearWeights;
  attnOut: LinearWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export interface DiTWeights {
  patchWeight: Tensor;
  patchBias: Tensor;
  blocks: DiTBlockWeights[];
  finalAdaLN: LinearWeights;
  finalProj: LinearWeights;
}

/** Every tensor name of a DiT checkpoint with its shape. */
export function expectedDiTShapes(config: DiTConfig): Map<string, number[]> {
  const { shapes, width: c } = patchTransformerShapes(config);
  for (let l = 0; l < config.numLayers; l++) {
    const b = `transformer_blocks.${l}`;
    shapes.linear(`${b}.norm1.emb.timestep_embedder.linear_1`, c, 256);
    shapes.linear(`${b}.norm1.emb.timestep_embedder.linear_2`, c, c);
    shapes.set(`${b}.norm1.emb.class_embedder.embedding_table.weight`, [config.numClasses + 1, c]);
    shapes.linear(`${b}.norm1.linear`, 6 * c, c);
    for (const proj of ["to_q", "to_k", "to_v", "to_out.0"]) {
      shapes.linear(`${b}.attn1.${proj}`, c, c);
    }
    shapes.linear(`${b}.ff.net.0.proj`, 4 * c, c);
    shapes.linear(`${b}.ff.net.2`, c, 4 * c);
  }
  shapes.linear("proj_out_1", 2 * c, c);
  shapes.linear("proj_out_2", config.patchSize ** 2 * config.outChannels, c);
  return shapes;
}

/** The block weights `dtype` applies to (the large matrices); all else stays f32. */
const HALF_ELIGIBLE =
  /\.(norm1\.linear|attn1\.(qkv|to_out\.0)|ff\.net\.0\.proj|ff\.net\.2)\.weight$/;

/** Every weight as it will be stored on the GPU (q, k, v stacked into one qkv matrix). */
export function ditGpuWeights(config: DiTConfig, dtype: DType): Map<string, GpuWeight> {
  const weights = new Map<string, GpuWeight>();
  for (const [name, shape] of expectedDiTShapes(config)) {
    const qkv = /\.attn1\.to_([qkv])\.(weight|bias)$/.exec(name);
    if (qkv && qkv[1] !== "q") continue;
    const stored = qkv ? name.replace(".to_q.", ".qkv.") : name;
    const storedShape = qkv ? [3 * shape[0], ...shape.slice(1)] : shape;
    const half = dtype === "f16" && HALF_ELIGIBLE.test(stored);
    weights.set(stored, { shape: storedShape, dtype: half ? "f16" : "f32" });
  }
  return weights;
}

/**
 * Validates every key and shape first (one error listing all problems), then uploads.
 * `dtype` applies to the large linear weights; with `freePackedWeights` their buffers are freed
 * block by block once packed into the linear kernel's textures (see `keepWeightInTexture`).
 */
export async function loadDiTWeights(
  gpu: Gpu,
  source: TensorSource,
  config: DiTConfig,
  dtype: DType,
  freePackedWeights = false,
): Promise<DiTWeights> {
  source = checkedSource(gpu, source, {
    what: "DiT",
    blocks: { prefix: "transformer_blocks", count: config.numLayers, key: "num_layers" },
    expected: () => expectedDiTShapes(config),
    stored: () => ditGpuWeights(config, dtype),
  });
  const blocks: DiTBlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const b = `transformer_blocks.${l}`;
    const attn = `${b}.attn1`;
    blocks.push({
      timestepLinear1: await loadLinear(
        gpu,
        source,
        `${b}.norm1.emb.timestep_embedder.linear_1`,
        "f32",
      ),
      timestepLinear2: await loadLinear(
        gpu,
        source,
        `${b}.norm1.emb.timestep_embedder.linear_2`,
        "f32",
      ),
      classTable: await loadFloat(
        gpu,
        source,
        `${b}.norm1.emb.class_embedder.embedding_table.weight`,
        "f32",
      ),
      adaLN: await loadLinear(gpu, source, `${b}.norm1.linear`, dtype),
      qkv: await loadStackedLinear(
        gpu,
        source,
        [`${attn}.to_q`, `${attn}.to_k`, `${attn}.to_v`],
        dtype,
        `${attn}.qkv`,
      ),
      attnOut: await loadLinear(gpu, source, `${attn}.to_out.0`, dtype),
      fc1: await loadLinear(gpu, source, `${b}.ff.net.0.proj`, dtype),
      fc2: await loadLinear(gpu, source, `${b}.ff.net.2`, dtype),
    });
    if (freePackedWeights) {
      const block = blocks[l];
      for (const layer of [block.adaLN, block.qkv, block.attnOut, block.fc1, block.fc2]) {
        keepWeightInTexture(layer.weight);
      }
      // Submitting now lets the freed buffers go block by block instead of at the end.
      gpu.flush();
    }
  }
  return {
    patchWeight: await loadFloat(gpu, source, "pos_embed.proj.weight", "f32"),
    patchBias: await loadFloat(gpu, source, "pos_embed.proj.bias", "f32"),
    blocks,
    finalAdaLN: await loadLinear(gpu, source, "proj_out_1", "f32"),
    finalProj: await loadLinear(gpu, source, "proj_out_2", "f32"),
  };
}
