/**
 * What the 2D patch transformers (DiT, PixArt) share: a token count per input size and a cache
 * of sincos position tables per token grid, freed with the weights.
 */

import { posEmbed2dCpu } from "../ops/embedding.ts";
import { Tensor } from "../tensor.ts";
import type { Gpu } from "../gpu/context.ts";
import { TransformerShape } from "./model_family.ts";
import { releaseWeights } from "./weight_loading.ts";
import { ShapeTable } from "./shape_table.ts";

/** The geometry every 2D patch transformer's config.json gives (DiT and PixArt). */
export interface PatchTransformerConfig {
  /** Latent (or pixel) height and width the model was trained at. */
  sampleSize: number;
  patchSize: number;
  inChannels: number;
  /** 2·inChannels with learned sigma. */
  outChannels: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
}

/**
 * The start of a 2D patch transformer's shape table: its patch embedding conv `pos_embed.proj`
 * [C, inChannels, p, p], with the width C = heads · head dim.
 */
export function patchTransformerShapes(
  config: PatchTransformerConfig,
): { shapes: ShapeTable; width: number } {
  const { numHeads, headDim, inChannels, patchSize: p } = config;
  const width = numHeads * headDim;
  const shapes = new ShapeTable();
  shapes.biased("pos_embed.proj", [width, inChannels, p, p]);
  return { shapes, width };
}

export abstract class PatchTransformer<
  Config extends PatchTransformerConfig,
  Weights extends object,
> extends TransformerShape {
  #posEmbed = new Map<string, Tensor>();

  protected constructor(
    readonly gpu: Gpu,
    readonly config: Config,
    readonly weights: Weights,
    /** Where the weights came from (for reports and plan files). */
    readonly source: string,
  ) {
    // Width = heads · head dim in both families.
    super(
      config.inChannels,
      config.outChannels,
      config.numLayers,
      config.numHeads * config.headDim,
    );
  }

  /** Tokens for an input of `height` × `width` latents (default: the trained sample size). */
  tokens(height: number = this.config.sampleSize, width: number = height): number {
    return (height / this.config.patchSize) * (width / this.config.patchSize);
  }

  /** The 2D sincos table [gridH·gridW, C] for a token grid, made once per grid. */
  protected positionTable(gridH: number, gridW: number, baseSize: number, scale: number): Tensor {
    const key = `${gridH}x${gridW}`;
    let table = this.#posEmbed.get(key);
    if (!table) {
      const values = posEmbed2dCpu(this.width, gridH, gridW, baseSize, scale);
      table = Tensor.fromArray(this.gpu, values, [gridH * gridW, this.width], "f32", "pos_embed");
      this.#posEmbed.set(key, table);
    }
    return table;
  }

  /** Frees the weights and cached position embeddings. */
  release(): void {
    releaseWeights(this.weights);
    for (const t of this.#posEmbed.values()) t.release();
    this.#posEmbed.clear();
  }
}
