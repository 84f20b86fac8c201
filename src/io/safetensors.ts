/**
 * Reading safetensors files without loading them whole: opening reads only the header, and each
 * tensor read fetches that tensor's bytes from a `ByteReader` (a file, a URL, memory). Checkpoints for the large models are gigabytes, and
 * the model loader converts and uploads one tensor at a time.
 */

import { CheckpointError } from "../errors.ts";
import { bf16BitsToFloat32 } from "./float_bits.ts";
import { TensorTable } from "./tensor_table.ts";
import { type ByteReader, ChunkedBytes } from "./bytes.ts";
import {
  type HeaderEntry,
  parseHeaderJson,
  parseHeaderLength,
  type TensorInfo,
} from "./safetensors_header.ts";

export type { TensorInfo } from "./safetensors_header.ts";

/** Named tensors readable as numbers: one safetensors file or a sharded checkpoint. */
export interface TensorSource {
  /** The file or index the tensors come from (for error messages). */
  readonly path: string;
  /** Tensor names, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** dtype, shape and byte size; a CheckpointError naming file and tensor if absent. */
  info(name: string): TensorInfo;
  readFloat32(name: string): Promise<Float32Array>;
  readFloat16(name: string): Promise<Float16Array>;
  readInt(name: string): Promise<Int32Array>;
  /** The stored bytes, little-endian, in a fresh buffer. */
  readRaw(name: string): Promise<Uint8Array>;
  close(): void;
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Typed-array views over file bytes assume the file's little-endian order.
  throw new Error("ditfastattn needs a little-endian host to read safetensors files");
}

export class SafetensorsFile extends TensorTable<HeaderEntry> implements TensorSource {
  #reader: ByteReader | null;

  private constructor(
    reader: ByteReader,
    readonly fileSize: number,
    tensors: Map<string, HeaderEntry>,
    /** The string→string `__metadata__` table ({} when absent). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    super(tensors);
    this.#reader = reader;
  }

  /** The file or URL the tensors come from. */
  get path(): string {
    return this.#reader?.location ?? "(closed)";
  }

  /** Reads and validates only the header; tensors are read on demand. Takes over `reader`. */
  static async fromReader(reader: ByteReader): Promise<SafetensorsFile> {
    const { size, location } = reader;
    try {
      const prefix = await reader.read(0, Math.min(8, size));
      const headerLength = parseHeaderLength(prefix, size, location);
      const headerBytes = await reader.read(8, headerLength);
      const header = parseHeaderJson(headerBytes, size, location);
      return new SafetensorsFile(reader, size, header.tensors, header.metadata);
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  /** A safetensors file held in memory (a fetched `ArrayBuffer`, an upload, a test). */
  static fromBytes(
    bytes: Uint8Array | ArrayBuffer,
    location = "memory.safetensors",
  ): Promise<SafetensorsFile> {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    return SafetensorsFile.fromReader(new ChunkedBytes(location, [view]));
  }

  info(name: string): TensorInfo {
    const { dtype, shape, byteLength } = this.entry(name);
    return { dtype, shape: [...shape], byteLength };
  }

  /** The tensor's stored bytes, in a fresh buffer starting at offset 0 (so views align). */
  readRaw(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    const reader = this.#reader;
    if (!reader) {
      return Promise.reject(
        new CheckpointError(`${this.path}: read of "${name}" after close()`),
      );
    }
    return reader.read(entry.fileOffset, entry.byteLength);
  }

  #unsupported(name: string, dtype: string, wanted: string): CheckpointError {
    return new CheckpointError(
      `${this.path}: tensor "${name}" has dtype ${dtype}, which cannot be read as ${wanted}`,
    );
  }

  /** F32, F16, BF16 or F64 as float32 (F64 rounds; the others are exact). */
  async readFloat32(name: string): Promise<Float32Array> {
    const { dtype } = this.entry(name);
    if (!["F32", "F16", "BF16", "F64"].includes(dtype)) {
      throw this.#unsupported(name, dtype, "float32");
    }
    const raw = (await this.readRaw(name)).buffer;
    switch (dtype) {
      case "F32":
        return new Float32Array(raw);
      case "F16":
        return Float32Array.from(new Float16Array(raw));
      case "BF16":
        return bf16BitsToFloat32(new Uint16Array(raw));
      default:
        return Float32Array.from(new Float64Array(raw));
    }
  }

  /** F16 as stored; F32, BF16 and F64 rounded to nearest even. */
  async readFloat16(name: string): Promise<Float16Array> {
    const { dtype } = this.entry(name);
    if (!["F32", "F16", "BF16", "F64"].includes(dtype)) {
      throw this.#unsupported(name, dtype, "float16");
    }
    if (dtype === "F16") return new Float16Array((await this.readRaw(name)).buffer);
    // Widening to float32 first is exact for every source here except F64, which skips it.
    if (dtype === "F64") {
      return Float16Array.from(new Float64Array((await this.readRaw(name)).buffer));
    }
    return Float16Array.from(await this.readFloat32(name));
  }

  /** I32 as stored; I64 narrowed, with an error for values outside the int32 range. */
  async readInt(name: string): Promise<Int32Array> {
    const { dtype } = this.entry(name);
    if (dtype !== "I32" && dtype !== "I64") throw this.#unsupported(name, dtype, "int32");
    const raw = (await this.readRaw(name)).buffer;
    if (dtype === "I32") return new Int32Array(raw);
    const wide = new BigInt64Array(raw);
    const out = new Int32Array(wide.length);
    for (let i = 0; i < wide.length; i++) {
      const v = wide[i];
      if (v < -2147483648n || v > 2147483647n) {
        throw new CheckpointError(
          `${this.path}: tensor "${name}" element ${i} = ${v} does not fit in int32`,
        );
      }
      out[i] = Number(v);
    }
    return out;
  }

  close(): void {
    this.#reader?.close();
    this.#reader = null;
  }
}
