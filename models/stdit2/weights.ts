/** STDiT2 weight names (Open-Sora layout), expected shapes, and loading onto the GPU. */

import { CheckpointError } from "../../src/errors.ts";
import type { Gpu } from "../../src/gpu/context.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import { type DType, Tensor } from "../../src/tensor.ts";
import { loadFloat, loadLinear } from "../../src/nn/weight_loading.ts";
import type { LinearWeights } from "../../src/nn/layers.ts";
import { headDim, type STDiT2Config } from "./config.ts";
import { keepWeightInTexture } from "../../src/ops/linear.ts";
import { checkedSource } from "../../src/nn/checked_source.ts";
import { ShapeTable } from "../../src/nn/shape_table.ts";

/** Sinusoid width every scalar embedder (timestep, size, frames, fps) starts from. */
export const SINUSOID_CHANNELS = 256;

/** Sinusoid → Linear → SiLU → Linear (`mlp.0`, `mlp.2`). */
export interface ScalarEmbedderWeights {
  linear1: LinearWeights;
  linear2: LinearWeights;
}

export interface STDiT2AttentionWeights {
  qkv: LinearWeights;
  proj: LinearWeights;
  /** Per-head RMSNorm weights [D] (absent without qk_norm). */
  qNorm: Tensor | null;
  kNorm: Tensor | null;
}

export interface STDiT2BlockWeights {
  /** [6·C]: shift, scale, gate of the spatial attention, then of the MLP. */
  scaleShift: Tensor;
  /** [3·C]: shift, scale, gate of the temporal attention. */
  scaleShiftTemporal: Tensor;
  attn: STDiT2AttentionWeights;
  attnTemporal: STDiT2AttentionWeights;
  crossQ: LinearWeights;
  /** k and v stacked [2C, C], as the checkpoint stores them. */
  crossKv: LinearWeights;
  crossProj: LinearWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export interface STDiT2Weights {
  /** Conv3d [C, Cin, pt, ph, pw] and bias [C]. */
  patchWeight: Tensor;
  patchBias: Tensor;
  timestep: ScalarEmbedderWeights;
  /** Pixel height and width (each C/3 wide). */
  size: ScalarEmbedderWeights;
  aspectRatio: ScalarEmbedderWeights;
  frames: ScalarEmbedderWeights;
  fps: ScalarEmbedderWeights;
  /** t_block.1 [6C, C] and t_block_temp.1 [3C, C] (each after a SiLU). */
  spatialModulation: LinearWeights;
  temporalModulation: LinearWeights;
  captionFc1: LinearWeights;
  captionFc2: LinearWeights;
  blocks: STDiT2BlockWeights[];
  /** [2·C]: shift, scale of the final layer. */
  finalScaleShift: Tensor;
  finalLinear: LinearWeights;
  /** The null caption `y_embedder.y_embedding` [L, captionChannels], kept on the CPU. */
  nullCaption: Float32Array;
  /** `rope.freqs` [D/2], kept on the CPU (angles are tabulated per frame count). */
  ropeFrequencies: Float32Array;
}

/** Every tensor name of an STDiT2 checkpoint with its shape. */
export function expectedSTDiT2Shapes(config: STDiT2Config): Map<string, number[]> {
  const c = config.hiddenSize;
  const d = headDim(config);
  const [pt, ph, pw] = config.patchSize;
  const shapes = new ShapeTable();
  const embedder = (name: string, width: number) => {
    shapes.linear(`${name}.mlp.0`, width, SINUSOID_CHANNELS);
    shapes.linear(`${name}.mlp.2`, width, width);
  };
  shapes.biased("x_embedder.proj", [c, config.inChannels, pt, ph, pw]);
  embedder("t_embedder", c);
  embedder("csize_embedder", c / 3);
  embedder("ar_embedder", c / 3);
  embedder("fl_embedder", c);
  embedder("fps_embedder", c);
  shapes.linear("t_block.1", 6 * c, c);
  shapes.linear("t_block_temp.1", 3 * c, c);
  shapes.linear("y_embedder.y_proj.fc1", c, config.captionChannels);
  shapes.linear("y_embedder.y_proj.fc2", c, c);
  shapes.set("y_embedder.y_embedding", [config.modelMaxLength, config.captionChannels]);
  shapes.set("rope.freqs", [d / 2]);
  for (let i = 0; i < config.depth; i++) {
    const b = `blocks.${i}`;
    shapes.set(`${b}.scale_shift_table`, [6, c]);
    shapes.set(`${b}.scale_shift_table_temporal`, [3, c]);
    for (const attn of ["attn", "attn_temp"]) {
      shapes.linear(`${b}.${attn}.qkv`, 3 * c, c);
      shapes.linear(`${b}.${attn}.proj`, c, c);
      if (config.qkNorm) {
        shapes.set(`${b}.${attn}.q_norm.weight`, [d]);
        shapes.set(`${b}.${attn}.k_norm.weight`, [d]);
      }
    }
    shapes.linear(`${b}.cross_attn.q_linear`, c, c);
    shapes.linear(`${b}.cross_attn.kv_linear`, 2 * c, c);
    shapes.linear(`${b}.cross_attn.proj`, c, c);
    shapes.linear(`${b}.mlp.fc1`, config.mlpHidden, c);
    shapes.linear(`${b}.mlp.fc2`, c, config.mlpHidden);
  }
  shapes.set("final_layer.scale_shift_table", [2, c]);
  shapes.linear(
    "final_layer.linear",
    config.patchSize.reduce((a, p) => a * p, 1) * config.outChannels,
    c,
  );
  return shapes;
}

/** A [k, C] table flattened to [k·C] (added to the [B, k·C] modulation rows). */
async function loadTable(gpu: Gpu, source: TensorSource, name: string): Promise<Tensor> {
  const values = await source.readFloat32(name);
  return Tensor.fromArray(gpu, values, [values.length], "f32", name);
}

async function loadEmbedder(
  gpu: Gpu,
  source: TensorSource,
  name: string,
): Promise<ScalarEmbedderWeights> {
  return {
    linear1: await loadLinear(gpu, source, `${name}.mlp.0`, "f32"),
    linear2: await loadLinear(gpu, source, `${name}.mlp.2`, "f32"),
  };
}

async function loadAttention(
  gpu: Gpu,
  source: TensorSource,
  name: string,
  config: STDiT2Config,
  dtype: DType,
): Promise<STDiT2AttentionWeights> {
  const norm = (which: string) =>
    config.qkNorm ? loadFloat(gpu, source, `${name}.${which}.weight`, "f32") : null;
  return {
    qkv: await loadLinear(gpu, source, `${name}.qkv`, dtype),
    proj: await loadLinear(gpu, source, `${name}.proj`, dtype),
    qNorm: await norm("q_norm"),
    kNorm: await norm("k_norm"),
  };
}

async function loadBlock(
  gpu: Gpu,
  source: TensorSource,
  index: number,
  config: STDiT2Config,
  dtype: DType,
): Promise<STDiT2BlockWeights> {
  const b = `blocks.${index}`;
  return {
    scaleShift: await loadTable(gpu, source, `${b}.scale_shift_table`),
    scaleShiftTemporal: await loadTable(gpu, source, `${b}.scale_shift_table_temporal`),
    attn: await loadAttention(gpu, source, `${b}.attn`, config, dtype),
    attnTemporal: await loadAttention(gpu, source, `${b}.attn_temp`, config, dtype),
    crossQ: await loadLinear(gpu, source, `${b}.cross_attn.q_linear`, dtype),
    crossKv: await loadLinear(gpu, source, `${b}.cross_attn.kv_linear`, dtype),
    crossProj: await loadLinear(gpu, source, `${b}.cross_attn.proj`, dtype),
    fc1: await loadLinear(gpu, source, `${b}.mlp.fc1`, dtype),
    fc2: await loadLinear(gpu, source, `${b}.mlp.fc2`, dtype),
  };
}

/** The large matrices of a block (what `dtype` and `freePackedWeights` apply to). */
function blockMatrices(block: STDiT2BlockWeights): LinearWeights[] {
  return [
    block.attn.qkv,
    block.attn.proj,
    block.attnTemporal.qkv,
    block.attnTemporal.proj,
    block.crossQ,
    block.crossKv,
    block.crossProj,
    block.fc1,
    block.fc2,
  ];
}

/**
 * Validates every key and shape first (one CheckpointError listing all problems), then
 * uploads. `dtype` applies to the large block matrices; with `freePackedWeights` their buffers
 * are freed block by block once packed into the linear kernel's textures (CPU adapters).
 */
export async function loadSTDiT2Weights(
  gpu: Gpu,
  source: TensorSource,
  config: STDiT2Config,
  dtype: DType,
  freePackedWeights = false,
): Promise<STDiT2Weights> {
  if (!source.has("y_embedder.y_embedding")) {
    // Named on its own: without it there is no null caption for guidance.
    throw new CheckpointError(
      `${source.path}: missing y_embedder.y_embedding [${config.modelMaxLength}, ` +
        `${config.captionChannels}], the null caption classifier-free guidance needs`,
    );
  }
  source = checkedSource(gpu, source, {
    what: "STDiT2",
    blocks: { prefix: "blocks", count: config.depth, key: "depth" },
    expected: () => expectedSTDiT2Shapes(config),
  });
  const blocks: STDiT2BlockWeights[] = [];
  for (let i = 0; i < config.depth; i++) {
    const block = await loadBlock(gpu, source, i, config, dtype);
    blocks.push(block);
    if (freePackedWeights) {
      for (const layer of blockMatrices(block)) keepWeightInTexture(layer.weight);
      // Submitting now lets the freed buffers go block by block instead of at the end.
      gpu.flush();
    }
  }
  return {
    patchWeight: await loadFloat(gpu, source, "x_embedder.proj.weight", "f32"),
    patchBias: await loadFloat(gpu, source, "x_embedder.proj.bias", "f32"),
    timestep: await loadEmbedder(gpu, source, "t_embedder"),
    size: await loadEmbedder(gpu, source, "csize_embedder"),
    aspectRatio: await loadEmbedder(gpu, source, "ar_embedder"),
    frames: await loadEmbedder(gpu, source, "fl_embedder"),
    fps: await loadEmbedder(gpu, source, "fps_embedder"),
    spatialModulation: await loadLinear(gpu, source, "t_block.1", "f32"),
    temporalModulation: await loadLinear(gpu, source, "t_block_temp.1", "f32"),
    captionFc1: await loadLinear(gpu, source, "y_embedder.y_proj.fc1", dtype),
    captionFc2: await loadLinear(gpu, source, "y_embedder.y_proj.fc2", dtype),
    blocks,
    finalScaleShift: await loadTable(gpu, source, "final_layer.scale_shift_table"),
    finalLinear: await loadLinear(gpu, source, "final_layer.linear", "f32"),
    nullCaption: await source.readFloat32("y_embedder.y_embedding"),
    ropeFrequencies: await source.readFloat32("rope.freqs"),
  };
}
