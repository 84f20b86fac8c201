/**
 * Tensor = GPU buffer + shape + dtype.
 *
 * Lifetime rules: every Tensor holds one reference to its storage and must be released exactly
 * once with `release()`. Views (`reshape`, `rows`) share the storage and hold their own
 * reference, so the buffer returns to the pool when the last of them is released. Releasing
 * while commands that read the tensor are still recorded is fine: the GPU runs them in order.
 */

import type { BufferBinding, Gpu } from "./gpu/context.ts";
import { ShapeError } from "./errors.ts";

export type DType = "f32" | "f16" | "i32" | "u32";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, i32: 4, u32: 4 };

/** Product of the dimensions (1 for a scalar shape). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid shape [${shape}]`);
  }
}

class TensorStorage {
  refs = 1;
  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly pooled: boolean,
  ) {}

  release(): void {
    if (--this.refs > 0) return;
    if (this.pooled) this.gpu.pool.release(this.buffer);
    else {
      this.gpu.pool.uncountLive(this.buffer.size);
      this.gpu.recorder.destroyAfterSubmit(this.buffer);
    }
  }
}

/** Set when a tensor's buffer was given up for a copy its only reader keeps elsewhere. */
interface Detached {
  reason: string;
  onRelease: () => void;
}

export class Tensor {
  #released = false;
  #detached: Detached | null = null;

  private constructor(
    readonly gpu: Gpu,
    private readonly storage: TensorStorage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Byte offset of element 0 inside the storage buffer. */
    readonly byteOffset: number,
    /** What the tensor holds (a weight name, or the kernel that produced it), for messages. */
    readonly label: string,
  ) {}

  /** An uninitialised tensor from the buffer pool (kernel outputs). */
  static empty(gpu: Gpu, shape: readonly number[], dtype: DType = "f32", label = "tensor"): Tensor {
    checkShape(shape);
    const bytes = Math.max(4, Math.ceil((shapeSize(shape) * DTYPE_BYTES[dtype]) / 4) * 4);
    const buffer = gpu.pool.acquire(bytes, label);
    return new Tensor(gpu, new TensorStorage(gpu, buffer, true), [...shape], dtype, 0, label);
  }

  /**
   * A tensor holding `data`. Float data becomes `dtype` (f32 by default; f16 rounds to
   * nearest even). Integer arrays give i32/u32 tensors.
   */
  static fromArray(
    gpu: Gpu,
    data: Float32Array | Int32Array | Uint32Array,
    shape: readonly number[],
    dtype?: DType,
    label = "upload",
  ): Tensor {
    checkShape(shape);
    const n = shapeSize(shape);
    if (data.length !== n) {
      throw new ShapeError(`${label}: ${data.length} values do not fill shape [${shape}] (${n})`);
    }
    const kind: DType = dtype ??
      (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : "f32");
    let bytes: ArrayBufferView = data;
    if (kind === "f16") bytes = Float16Array.from(data as Float32Array);
    else if (kind === "f32" && !(data instanceof Float32Array)) bytes = Float32Array.from(data);
    const buffer = gpu.upload(bytes, label);
    gpu.pool.countLive(buffer.size);
    return new Tensor(gpu, new TensorStorage(gpu, buffer, false), [...shape], kind, 0, label);
  }

  /** Number of elements. */
  get size(): number {
    return shapeSize(this.shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  get released(): boolean {
    return this.#released;
  }

  #checkAlive(): void {
    if (this.#released) throw new Error(`tensor [${this.shape}] used after release()`);
  }

  /** The storage-buffer binding of this tensor's bytes (for kernel launchers). */
  binding(): BufferBinding {
    this.#checkAlive();
    if (this.#detached) {
      throw new ShapeError(`tensor "${this.label}" [${this.shape}]: ${this.#detached.reason}`);
    }
    return {
      buffer: this.storage.buffer,
      offset: this.byteOffset,
      size: Math.max(4, Math.ceil(this.byteLength / 4) * 4),
      owner: this,
    };
  }

  /** Same data with another shape of the same size (shares storage; release both). */
  reshape(shape: readonly number[]): Tensor {
    this.#checkAlive();
    checkShape(shape);
    if (shapeSize(shape) !== this.size) {
      throw new ShapeError(`cannot reshape [${this.shape}] to [${shape}]`);
    }
    this.storage.refs++;
    return new Tensor(this.gpu, this.storage, [...shape], this.dtype, this.byteOffset, this.label);
  }

  /**
   * Rows `[start, start + count)` along the first axis: a view sharing storage when the byte
   * offset meets the device's binding alignment, else a copy. Either way, release the result.
   */
  rows(start: number, count: number): Tensor {
    this.#checkAlive();
    const outer = this.shape[0];
    if (start < 0 || count < 0 || start + count > outer) {
      throw new ShapeError(`rows(${start}, ${count}) outside the first axis of [${this.shape}]`);
    }
    const shape = [count, ...this.shape.slice(1)];
    const rowBytes = (this.size / Math.max(outer, 1)) * DTYPE_BYTES[this.dtype];
    const offset = this.byteOffset + start * rowBytes;
    const alignment = this.gpu.limits.minStorageBufferOffsetAlignment;
    if (offset % alignment === 0) {
      this.storage.refs++;
      return new Tensor(this.gpu, this.storage, shape, this.dtype, offset, this.label);
    }
    const copy = Tensor.empty(this.gpu, shape, this.dtype, "rows-copy");
    const bytes = Math.ceil((count * rowBytes) / 4) * 4;
    if (offset % 4 !== 0) {
      throw new ShapeError(`rows(${start}) of an f16 tensor is not 4-byte aligned`);
    }
    this.gpu.copy({ ...this.binding(), offset }, copy.binding(), bytes);
    return copy;
  }

  /** Copies the data to the CPU as float32 (f16 widened); submits pending work first. */
  async toFloat32(): Promise<Float32Array> {
    this.#checkAlive();
    const raw = await this.gpu.readBytes(this.binding(), this.byteLength);
    switch (this.dtype) {
      case "f32":
        return new Float32Array(raw);
      case "f16":
        return Float32Array.from(new Float16Array(raw));
      case "i32":
        return Float32Array.from(new Int32Array(raw));
      case "u32":
        return Float32Array.from(new Uint32Array(raw));
    }
  }

  /**
   * Frees the buffer now but keeps the tensor (shape, dtype, identity) for a weight whose only
   * reader holds a copy of its own, such as the linear kernel's packed texture. `binding()`
   * throws `reason` from then on, and `release()` calls `onRelease` (which frees that copy).
   * Refused while views share the buffer.
   */
  detachStorage(reason: string, onRelease: () => void): void {
    this.#checkAlive();
    if (this.#detached) throw new ShapeError(`tensor "${this.label}" is already detached`);
    if (this.storage.refs !== 1) {
      throw new ShapeError(`tensor "${this.label}": views share its buffer, it cannot be freed`);
    }
    this.storage.release();
    this.#detached = { reason, onRelease };
  }

  /** True once `detachStorage` gave the buffer up. */
  get detached(): boolean {
    return this.#detached !== null;
  }

  /** Gives the storage reference back; the tensor must not be used afterwards. */
  release(): void {
    this.#checkAlive();
    this.#released = true;
    if (this.#detached) this.#detached.onRelease();
    else this.storage.release();
  }
}

/** Throws a ShapeError unless `t` has exactly `shape` (-1 matches any size). */
export function expectShape(t: Tensor, shape: readonly number[], what: string): void {
  const ok = t.shape.length === shape.length &&
    shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    throw new ShapeError(`${what}: expected shape [${shape}], got [${t.shape}]`);
  }
}
