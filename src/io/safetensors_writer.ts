/**
 * Writing safetensors files. Tensors are converted and written one chunk at a time, so a
 * multi-gigabyte checkpoint needs no second copy of itself in memory; data may also be given
 * as a function, called only when that tensor's turn comes, so callers can produce weights
 * lazily. The bytes go to a sink (the Deno entry's atomic file writer, or memory in a page).
 */

import { CheckpointError } from "../errors.ts";
import { float32ToBf16Bits } from "./float_bits.ts";

export type WritableDtype = "F32" | "F16" | "BF16" | "I32" | "I64";

/**
 * Element data. Uint16Array holds raw F16 or BF16 bit patterns; float arrays are rounded to
 * nearest even when the dtype is narrower; Int32Array and BigInt64Array convert both ways
 * (I64 → I32 only when every value fits).
 */
export type TensorData = Float32Array | Float16Array | Int32Array | BigInt64Array | Uint16Array;

export interface TensorToWrite {
  dtype: WritableDtype;
  shape: readonly number[];
  data: TensorData | (() => TensorData | Promise<TensorData>);
}

const ELEMENT_BYTES: Readonly<Record<WritableDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
};

/** Elements converted per step: big enough to keep writes efficient, small in memory. */
const CHUNK_ELEMENTS = 1 << 20;

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Receives the encoded file piece by piece, in order. */
export type ByteSink = (bytes: Uint8Array) => Promise<void>;

function narrowToInt32(values: BigInt64Array, where: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -2147483648n || v > 2147483647n) {
      throw new CheckpointError(`${where}: element ${v} does not fit in I32`);
    }
    out[i] = Number(v);
  }
  return out;
}

/** One chunk of `data` in the stored encoding of `dtype`, or null if the pairing is invalid. */
function encodeChunk(dtype: WritableDtype, data: TensorData, where: string): Uint8Array | null {
  switch (dtype) {
    case "F32":
      if (data instanceof Float32Array) return bytesOf(data);
      if (data instanceof Float16Array) return bytesOf(Float32Array.from(data));
      return null;
    case "F16":
      if (data instanceof Float16Array || data instanceof Uint16Array) return bytesOf(data);
      if (data instanceof Float32Array) return bytesOf(Float16Array.from(data));
      return null;
    case "BF16":
      if (data instanceof Uint16Array) return bytesOf(data);
      if (data instanceof Float32Array) return bytesOf(float32ToBf16Bits(data));
      if (data instanceof Float16Array) return bytesOf(float32ToBf16Bits(Float32Array.from(data)));
      return null;
    case "I32":
      if (data instanceof Int32Array) return bytesOf(data);
      if (data instanceof BigInt64Array) return bytesOf(narrowToInt32(data, where));
      return null;
    case "I64":
      if (data instanceof BigInt64Array) return bytesOf(data);
      if (data instanceof Int32Array) {
        return bytesOf(BigInt64Array.from(data, (v) => BigInt(v)));
      }
      return null;
  }
}

function elementCount(shape: readonly number[], where: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(`${where}: invalid shape [${shape}]`);
    }
    n *= d;
  }
  return n;
}

function headerBytes(
  path: string,
  names: string[],
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> | undefined,
): Uint8Array {
  // Built by hand: a JS object would reorder integer-like names and mishandle "__proto__".
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const name of names) {
    const { dtype, shape } = tensors[name];
    const end = offset + elementCount(shape, `${path}: tensor "${name}"`) * ELEMENT_BYTES[dtype];
    parts.push(
      `${JSON.stringify(name)}:${
        JSON.stringify({ dtype, shape: [...shape], data_offsets: [offset, end] })
      }`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Padding to 8 bytes lets a reader map the data section with aligned typed-array views.
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  const out = new Uint8Array(8 + padded.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded.length), true);
  out.set(padded, 8);
  return out;
}

async function writeTensor(
  write: ByteSink,
  tensor: TensorToWrite,
  where: string,
): Promise<void> {
  let data: TensorData;
  try {
    data = typeof tensor.data === "function" ? await tensor.data() : tensor.data;
  } catch (e) {
    throw new CheckpointError(`${where}: producing the data failed (${(e as Error).message})`);
  }
  const count = elementCount(tensor.shape, where);
  if (data.length !== count) {
    throw new CheckpointError(
      `${where}: ${data.length} values do not fill shape [${tensor.shape}] (${count})`,
    );
  }
  // do-while: an empty tensor still gets its dtype/data pairing checked.
  let start = 0;
  do {
    const chunk = data.subarray(start, Math.min(start + CHUNK_ELEMENTS, count)) as TensorData;
    const encoded = encodeChunk(tensor.dtype, chunk, where);
    if (!encoded) {
      throw new CheckpointError(
        `${where}: ${data.constructor.name} cannot be stored as ${tensor.dtype}`,
      );
    }
    await write(encoded);
    start += CHUNK_ELEMENTS;
  } while (start < count);
}

/**
 * Encodes `tensors` (sorted by name) and optional string metadata as a safetensors file into
 * `write`; `location` names the file in errors. Everything is checked before the first byte.
 */
export async function encodeSafetensors(
  location: string,
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> | undefined,
  write: ByteSink,
): Promise<void> {
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const where = `${location}: tensor "${name}"`;
    if (name === "__metadata__" || name === "") {
      throw new CheckpointError(`${where}: reserved tensor name`);
    }
    if (!Object.hasOwn(ELEMENT_BYTES, tensors[name].dtype)) {
      throw new CheckpointError(`${where}: cannot write dtype "${tensors[name].dtype}"`);
    }
  }
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== "string") {
      throw new CheckpointError(`${location}: metadata "${key}" is not a string`);
    }
  }
  await write(headerBytes(location, names, tensors, metadata));
  for (const name of names) {
    await writeTensor(write, tensors[name], `${location}: tensor "${name}"`);
  }
}

/** The whole file in memory, as chunks (a download in a page, a test). */
export async function safetensorsBytes(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
  location = "memory.safetensors",
): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  await encodeSafetensors(location, tensors, metadata, (bytes) => {
    parts.push(bytes.slice());
    return Promise.resolve();
  });
  return parts;
}
