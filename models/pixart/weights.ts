/** PixArt weight names (diffusers PixArtTransformer2DModel layout), expected shapes, and upload. */

import type { Gpu } from "../../src/gpu/context.ts";
import type { TensorSource } from "../../src/io/safetensors.ts";
import type { DType, Tensor } from "../../src/tensor.ts";
import { loadFloat, loadLinear, loadStackedLinear } from "../../src/nn/weight_loading.ts";
import type { LinearWeights } from "../../src/nn/layers.ts";
import { type PixArtConfig, pixartWidth } from "./config.ts";
import { checkedSource } from "../../src/nn/checked_source.ts";
import { patchTransformerShapes } from "../../src/nn/patch_transformer.ts";

/** Width of the sinusoidal timestep and size features fed to the embedder MLPs. */
export const PIXART_FREQUENCY_CHANNELS = 256;

/** A TimestepEmbedding MLP: linear_1, SiLU, linear_2. */
export interface EmbedderWeights {
  linear1: LinearWeights;
  linear2: LinearWeights;
}

export interface PixArtBlockWeights {
  /** [6·C]: shift1 scale1 gate1 shift2 scale2 gate2 added to the shared adaLN-single output. */
  scaleShiftTable: Tensor;
  /** attn1 to_q, to_k, to_v stacked into [3C, C]. */
  qkv: LinearWeights;
  attnOut: LinearWeights;
  crossQuery: LinearWeights;
  /** attn2 to_k, to_v stacked into [2C, C] (the layout crossAttention reads). */
  crossKeyValue: LinearWeights;
  crossOut: LinearWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export interface PixArtWeights {
  patchWeight: Tensor;
  patchBias: Tensor;
  timestepEmbedder: EmbedderWeights;
  /** Present with size conditioning: 256 → C/3 → C/3 each. */
  resolutionEmbedder?: EmbedderWeights;
  aspectRatioEmbedder?: EmbedderWeights;
  /** adaln_single.linear: SiLU(e) → [B, 6C]. */
  adaLNSingle: LinearWeights;
  captionLinear1: LinearWeights;
  captionLinear2: LinearWeights;
  blocks: PixArtBlockWeights[];
  /** [2·C]: final (shift, scale) offsets added to the embedded timestep. */
  finalScaleShift: Tensor;
  finalProj: LinearWeights;
}

/** Every tensor name of a PixArt checkpoint with its shape. */
export function expectedPixArtShapes(config: PixArtConfig): Map<string, number[]> {
  const { shapes, width: c } = patchTransformerShapes(config);
  const embedder = (name: string, width: number) => {
    shapes.linear(`${name}.linear_1`, width, PIXART_FREQUENCY_CHANNELS);
    shapes.linear(`${name}.linear_2`, width, width);
  };
  embedder("adaln_single.emb.timestep_embedder", c);
  if (config.useAdditionalConditions) {
    embedder("adaln_single.emb.resolution_embedder", c / 3);
    embedder("adaln_single.emb.aspect_ratio_embedder", c / 3);
  }
  shapes.linear("adaln_single.linear", 6 * c, c);
  shapes.linear("caption_projection.linear_1", c, config.captionChannels);
  shapes.linear("caption_projection.linear_2", c, c);
  for (let l = 0; l < config.numLayers; l++) {
    const b = `transformer_blocks.${l}`;
    shapes.set(`${b}.scale_shift_table`, [6, c]);
    for (const attn of ["attn1", "attn2"]) {
      for (const proj of ["to_q", "to_k", "to_v", "to_out.0"]) {
        shapes.linear(`${b}.${attn}.${proj}`, c, c);
      }
    }
    shapes.linear(`${b}.ff.net.0.proj`, 4 * c, c);
    shapes.linear(`${b}.ff.net.2`, c, 4 * c);
  }
  shapes.set("scale_shift_table", [2, c]);
  shapes.linear("proj_out", config.patchSize ** 2 * config.outChannels, c);
  return shapes;
}

async function loadEmbedder(
  gpu: Gpu,
  source: TensorSource,
  name: string,
): Promise<EmbedderWeights> {
  return {
    linear1: await loadLinear(gpu, source, `${name}.linear_1`, "f32"),
    linear2: await loadLinear(gpu, source, `${name}.linear_2`, "f32"),
  };
}

/** A [rows, C] table as one flat [rows·C] f32 vector (the layout adaLN chunks are read in). */
async function loadFlatTable(gpu: Gpu, source: TensorSource, name: string): Promise<Tensor> {
  const table = await loadFloat(gpu, source, name, "f32");
  const flat = table.reshape([table.size]);
  table.release();
  return flat;
}

/**
 * Validates every key and shape first (one CheckpointError naming the file and listing every
 * missing, unexpected or mis-shaped tensor), then uploads. `dtype` applies to the large linears.
 */
export async function loadPixArtWeights(
  gpu: Gpu,
  source: TensorSource,
  config: PixArtConfig,
  dtype: DType,
): Promise<PixArtWeights> {
  source = checkedSource(gpu, source, {
    what: "PixArt",
    blocks: { prefix: "transformer_blocks", count: config.numLayers, key: "num_layers" },
    expected: (checked) => {
      const expected = expectedPixArtShapes(config);
      // Some conversions store the sincos table as a buffer; it is recomputed for each grid, so
      // it is accepted (at the trained grid's shape) and ignored.
      if (checked.has("pos_embed.pos_embed")) {
        const grid = config.sampleSize / config.patchSize;
        expected.set("pos_embed.pos_embed", [1, grid * grid, pixartWidth(config)]);
      }
      return expected;
    },
  });
  const blocks: PixArtBlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const b = `transformer_blocks.${l}`;
    blocks.push({
      scaleShiftTable: await loadFlatTable(gpu, source, `${b}.scale_shift_table`),
      qkv: await loadStackedLinear(
        gpu,
        source,
        [`${b}.attn1.to_q`, `${b}.attn1.to_k`, `${b}.attn1.to_v`],
        dtype,
        `${b}.attn1.qkv`,
      ),
      attnOut: await loadLinear(gpu, source, `${b}.attn1.to_out.0`, dtype),
      crossQuery: await loadLinear(gpu, source, `${b}.attn2.to_q`, dtype),
      crossKeyValue: await loadStackedLinear(
        gpu,
        source,
        [`${b}.attn2.to_k`, `${b}.attn2.to_v`],
        dtype,
        `${b}.attn2.kv`,
      ),
      crossOut: await loadLinear(gpu, source, `${b}.attn2.to_out.0`, dtype),
      fc1: await loadLinear(gpu, source, `${b}.ff.net.0.proj`, dtype),
      fc2: await loadLinear(gpu, source, `${b}.ff.net.2`, dtype),
    });
  }
  const sizes = config.useAdditionalConditions
    ? {
      resolutionEmbedder: await loadEmbedder(gpu, source, "adaln_single.emb.resolution_embedder"),
      aspectRatioEmbedder: await loadEmbedder(
        gpu,
        source,
        "adaln_single.emb.aspect_ratio_embedder",
      ),
    }
    : {};
  return {
    patchWeight: await loadFloat(gpu, source, "pos_embed.proj.weight", "f32"),
    patchBias: await loadFloat(gpu, source, "pos_embed.proj.bias", "f32"),
    timestepEmbedder: await loadEmbedder(gpu, source, "adaln_single.emb.timestep_embedder"),
    ...sizes,
    adaLNSingle: await loadLinear(gpu, source, "adaln_single.linear", dtype),
    captionLinear1: await loadLinear(gpu, source, "caption_projection.linear_1", dtype),
    captionLinear2: await loadLinear(gpu, source, "caption_projection.linear_2", dtype),
    blocks,
    finalScaleShift: await loadFlatTable(gpu, source, "scale_shift_table"),
    finalProj: await loadLinear(gpu, source, "proj_out", "f32"),
  };
}
