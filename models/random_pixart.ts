/**
 * PixArt weights drawn at random on demand, for benchmarks at real model shapes. Values are
 * made when a tensor is read (PixArt-Σ's 600M parameters would be 2.4 GB to hold as f32).
 */

import { CheckpointError } from "../src/errors.ts";
import type { TensorInfo, TensorSource } from "../src/io/safetensors.ts";
import { gaussianNoise } from "../src/sampling/prng.ts";
import type { PixArtConfig } from "./pixart_config.ts";
import { expectedPixArtShapes } from "./pixart_weights.ts";

/** PixArt-Σ at 1024 px: 28 layers, 16 heads × 72, T5-XXL captions, learned sigma, no size conditioning. */
export const PIXART_SIGMA_1024: Readonly<PixArtConfig> = {
  sampleSize: 128,
  patchSize: 2,
  inChannels: 4,
  outChannels: 8,
  numLayers: 28,
  numHeads: 16,
  headDim: 72,
  captionChannels: 4096,
  normEps: 1e-6,
  interpolationScale: 2,
  useAdditionalConditions: false,
};

/** Every tensor of `config` as N(0, std²) values (std 0.02; they matter only for speed). */
export class RandomPixArtSource implements TensorSource {
  readonly path: string;
  readonly #shapes: Map<string, number[]>;
  readonly #streams: Map<string, number>;

  constructor(config: PixArtConfig, private readonly seed = 0, private readonly std = 0.02) {
    this.path = `random PixArt (seed ${seed})`;
    this.#shapes = expectedPixArtShapes(config);
    this.#streams = new Map([...this.#shapes.keys()].map((name, i) => [name, i]));
  }

  names(): string[] {
    return [...this.#shapes.keys()].sort();
  }

  has(name: string): boolean {
    return this.#shapes.has(name);
  }

  #shape(name: string): number[] {
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
