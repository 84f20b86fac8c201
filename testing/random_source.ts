/**
 * A TensorSource of N(0, std²) values for any table of names and shapes, drawn when a tensor is
 * read: benchmarks at real model shapes without holding gigabytes of random weights.
 */

import { CheckpointError } from "../src/errors.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";
import type { TensorInfo, TensorSource } from "../src/io/safetensors.ts";
import type { PatchTransformerConfig } from "../src/nn/patch_transformer.ts";

/**
 * The XL/2 backbone DiT-XL/2 and PixArt-α/Σ share: 28 layers, 16 heads × 72, patch 2, latent
 * 4 channels in and 8 out (learned sigma); only the trained sample size differs.
 */
export const XL_2_BACKBONE: Readonly<Omit<PatchTransformerConfig, "sampleSize">> = {
  patchSize: 2,
  inChannels: 4,
  outChannels: 8,
  numLayers: 28,
  numHeads: 16,
  headDim: 72,
};

export class RandomTensorSource implements TensorSource {
  readonly #shapes: ReadonlyMap<string, readonly number[]>;
  /** Each tensor draws its own seeded stream, so reading order does not matter. */
  readonly #streams: Map<string, number>;

  constructor(
    readonly path: string,
    shapes: ReadonlyMap<string, readonly number[]>,
    private readonly seed = 0,
    private readonly std = 0.02,
  ) {
    this.#shapes = shapes;
    this.#streams = new Map([...shapes.keys()].map((name, i) => [name, i]));
  }

  names(): string[] {
    return [...this.#shapes.keys()].sort();
  }

  has(name: string): boolean {
    return this.#shapes.has(name);
  }

  #shape(name: string): readonly number[] {
    const shape = this.#shapes.get(name);
    if (!shape) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    return shape;
  }

  info(name: string): TensorInfo {
    const shape = this.#shape(name);
    return { dtype: "F32", shape: [...shape], byteLength: 4 * shape.reduce((a, b) => a * b, 1) };
  }

  readFloat32(name: string): Promise<Float32Array> {
    const size = this.#shape(name).reduce((a, b) => a * b, 1);
    const values = gaussianNoise(this.seed, 0, size, this.#streams.get(name)!);
    for (let i = 0; i < size; i++) values[i] *= this.std;
    return Promise.resolve(values);
  }

  async readFloat16(name: string): Promise<Float16Array> {
    return Float16Array.from(await this.readFloat32(name));
  }

  async readInt(name: string): Promise<Int32Array> {
    return Int32Array.from(await this.readFloat32(name));
  }

  async readRaw(name: string): Promise<Uint8Array> {
    return new Uint8Array((await this.readFloat32(name)).buffer);
  }

  close(): void {}
}
