/** A TensorSource over tensors held in memory (random test models, converted weights). */

import { CheckpointError } from "../errors.ts";
import type { TensorInfo, TensorSource } from "./safetensors.ts";

export interface MemoryTensor {
  shape: number[];
  data: Float32Array;
}

export class MemoryTensorSource implements TensorSource {
  constructor(readonly path: string, private readonly tensors: Map<string, MemoryTensor>) {}

  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  #get(name: string): MemoryTensor {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    return t;
  }

  info(name: string): TensorInfo {
    const t = this.#get(name);
    return { dtype: "F32", shape: [...t.shape], byteLength: t.data.byteLength };
  }

  readFloat32(name: string): Promise<Float32Array> {
    return Promise.resolve(this.#get(name).data);
  }

  readFloat16(name: string): Promise<Float16Array> {
    return Promise.resolve(Float16Array.from(this.#get(name).data));
  }

  readInt(name: string): Promise<Int32Array> {
    return Promise.resolve(Int32Array.from(this.#get(name).data));
  }

  readRaw(name: string): Promise<Uint8Array> {
    const d = this.#get(name).data;
    return Promise.resolve(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }

  close(): void {}
}
