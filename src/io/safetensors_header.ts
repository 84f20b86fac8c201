/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON mapping
 * tensor names to {dtype, shape, data_offsets}, with offsets relative to the byte after the
 * header. Parsing validates everything a reader later relies on, so reads can trust the table.
 */

import { CheckpointError } from "../errors.ts";

/** Every dtype name the format defines with a whole number of bytes per element. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The dtypes this library can turn into numbers. */
export type LoadableDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "F64";

/** One tensor's entry in the header, with offsets made absolute within the file. */
export interface TensorInfo {
  dtype: string;
  shape: number[];
  byteLength: number;
}

export interface HeaderEntry extends TensorInfo {
  /** Absolute byte position of the tensor's first byte in the file. */
  fileOffset: number;
}

export interface ParsedHeader {
  /** Bytes before the data section: 8 + N. */
  dataStart: number;
  tensors: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
}

/**
 * A generous bound: real headers are a few hundred KB even for multi-billion-parameter models,
 * and a corrupted length must not make us allocate gigabytes.
 */
export const MAX_HEADER_BYTES: number = 100 * 1024 * 1024;

/** Reads N from the first 8 bytes and checks it against the file size. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, path: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new CheckpointError(`${path}: ${fileSize} bytes is too short for a safetensors file`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) throw new CheckpointError(`${path}: header length ${n} is too small`);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(`${path}: header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointError(
      `${path}: header length ${n} runs past the end of the file (${fileSize} bytes)`,
    );
  }
  return Number(n);
}

/** The most characters of file content an error message quotes. */
export const MAX_QUOTED_CHARS = 200;

/** Cuts `text` to MAX_QUOTED_CHARS, saying how much was left out. */
function capped(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return text;
  return `${text.slice(0, MAX_QUOTED_CHARS)}… (${text.length} characters)`;
}

/** A name from the file, quoted and capped. */
function quoted(name: string): string {
  return capped(JSON.stringify(name));
}

/**
 * A header value as it reads in the file, for messages: numbers JSON cannot keep (1e309 parses
 * to Infinity, which JSON.stringify would print as null) stay numbers, an absent value says so,
 * and deep or long values are cut.
 */
function shown(value: unknown): string {
  if (value === undefined) return "missing";
  const parts: string[] = [];
  let length = 0;
  const visit = (v: unknown, depth: number): void => {
    if (length > MAX_QUOTED_CHARS) return;
    let piece: string;
    if (Array.isArray(v)) {
      if (depth > 8) piece = "[…]";
      else {
        parts.push("[");
        v.forEach((item, i) => {
          if (i > 0) parts.push(", ");
          visit(item, depth + 1);
        });
        parts.push("]");
        return;
      }
    } else if (typeof v === "number") piece = String(v);
    else if (typeof v === "string") piece = JSON.stringify(v);
    else if (v === null) piece = "null";
    else if (typeof v === "object") piece = "{…}";
    else piece = String(v);
    parts.push(piece);
    length += piece.length;
  };
  visit(value, 0);
  return capped(parts.join(""));
}

/**
 * Throws on a key that appears twice in one object of the (already valid) JSON text: JSON.parse
 * would silently keep the last, so a file could hold two different tables for one tensor.
 * One pass over the text with an explicit stack (no recursion, so nesting depth is free).
 */
function checkNoDuplicateKeys(text: string, path: string): void {
  interface Frame {
    keys: Set<string> | null;
    expectKey: boolean;
    /** The key this value sits under, for messages. */
    under: string | null;
    lastKey: string | null;
  }
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const where = top.under === null ? "tensor" : `key`;
          const inside = top.under === null ? "" : ` in the entry of ${quoted(top.under)}`;
          throw new CheckpointError(
            `${path}: ${where} ${quoted(key)} appears twice${inside} in the header (a reader ` +
              `would keep only the last)`,
          );
        }
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const under = top === undefined ? null : top.keys ? top.lastKey : top.under;
      stack.push({ keys: c === 0x7b ? new Set() : null, expectKey: true, under, lastKey: null });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */ && top?.keys) {
      top.expectKey = true;
    }
  }
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseEntry(
  name: string,
  raw: unknown,
  dataStart: number,
  dataBytes: number,
  path: string,
): HeaderEntry {
  const where = `${path}: tensor ${quoted(name)}`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(`${where}: header entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string") {
    throw new CheckpointError(`${where}: dtype is ${shown(dtype)}, not a dtype name`);
  }
  // Own keys only: "constructor" or "toString" must not find Object.prototype's members.
  if (!Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
    throw new CheckpointError(`${where}: unknown dtype ${quoted(dtype)}`);
  }
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new CheckpointError(
      `${where}: shape ${shown(shape)} is not a list of sizes (non-negative integers)`,
    );
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)
  ) {
    throw new CheckpointError(
      `${where}: data_offsets ${shown(offsets)} is not [begin, end] (two byte offsets)`,
    );
  }
  const [begin, end] = offsets as number[];
  if (begin > end) {
    throw new CheckpointError(`${where}: data_offsets [${begin}, ${end}] has begin > end`);
  }
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const byteLength = elements * elementBytes;
  if (!Number.isSafeInteger(byteLength) || byteLength !== end - begin) {
    throw new CheckpointError(
      `${where}: shape ${shown(shape)} of ${dtype} needs ${byteLength} bytes but data_offsets ` +
        `[${begin}, ${end}] hold ${end - begin}`,
    );
  }
  if (end > dataBytes) {
    throw new CheckpointError(
      `${where}: data_offsets [${begin}, ${end}] run past the data section (${dataBytes} bytes)`,
    );
  }
  return { dtype, shape: [...(shape as number[])], byteLength, fileOffset: dataStart + begin };
}

function parseMetadata(raw: unknown, path: string): Record<string, string> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(`${path}: __metadata__ is not an object`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== "string") {
      throw new CheckpointError(`${path}: __metadata__ ${quoted(key)} is not a string`);
    }
    metadata[key] = value;
  }
  return metadata;
}

/** Overlap is checked on the sorted table so it costs O(n log n), not O(n²). */
function checkNoOverlap(tensors: Map<string, HeaderEntry>, path: string): void {
  const spans = [...tensors].filter(([, e]) => e.byteLength > 0)
    .sort(([, a], [, b]) => a.fileOffset - b.fileOffset);
  for (let i = 1; i < spans.length; i++) {
    const [prevName, prev] = spans[i - 1];
    const [name, entry] = spans[i];
    if (entry.fileOffset < prev.fileOffset + prev.byteLength) {
      throw new CheckpointError(
        `${path}: tensor ${quoted(name)} overlaps tensor ${quoted(prevName)} in the data section`,
      );
    }
  }
}

/** Parses and validates the JSON header bytes (the N bytes after the length prefix). */
export function parseHeaderJson(
  headerBytes: Uint8Array,
  fileSize: number,
  path: string,
): ParsedHeader {
  const dataStart = 8 + headerBytes.length;
  const dataBytes = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new CheckpointError(`${path}: header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(
      `${path}: header is not valid JSON (${capped((e as Error).message)})`,
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(`${path}: header is not a JSON object`);
  }
  checkNoDuplicateKeys(text, path);
  const tensors = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === "__metadata__") metadata = parseMetadata(raw, path);
    else tensors.set(name, parseEntry(name, raw, dataStart, dataBytes, path));
  }
  checkNoOverlap(tensors, path);
  return { dataStart, tensors, metadata };
}
