/** A TensorSource over tensors held in memory (random test models, converted weights). */

import { TensorTable } from "./tensor_table.ts";
import type { TensorInfo, TensorSource } from "./safetensors.ts";

export interface MemoryTensor {
  shape: number[];
  data: Float32Array;
}

export class MemoryTensorSource extends TensorTable<MemoryTensor> implements TensorSource {
  constructor(readonly path: string, tensors: Map<string, MemoryTensor>) {
    super(tensors, (name) => `no tensor "${name}"`);
  }

  info(name: string): TensorInfo {
    const t = this.entry(name);
    return { dtype: "F32", shape: [...t.shape], byteLength: t.data.byteLength };
  }

  readFloat32(name: string): Promise<Float32Array> {
    return Promise.resolve(this.entry(name).data);
  }

  readFloat16(name: string): Promise<Float16Array> {
    return Promise.resolve(Float16Array.from(this.entry(name).data));
  }

  readInt(name: string): Promise<Int32Array> {
    return Promise.resolve(Int32Array.from(this.entry(name).data));
  }

  readRaw(name: string): Promise<Uint8Array> {
    const d = this.entry(name).data;
    return Promise.resolve(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }

  close(): void {}
}
