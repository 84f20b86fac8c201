/**
 * Random-access bytes, whatever holds them: a file (the Deno entry), an HTTP resource read by
 * range requests or streamed in chunks, or memory. Checkpoint readers seek to one tensor at a
 * time through this, so a multi-gigabyte file never has to sit in one `ArrayBuffer` (browsers
 * cap those near 2 GB).
 */

import { CheckpointError } from "../errors.ts";

export interface ByteReader {
  /** A path or URL, for messages. */
  readonly location: string;
  readonly size: number;
  /** `length` bytes from `offset`, in a fresh buffer starting at 0 (so typed views align). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): void;
}

function checkRange(location: string, size: number, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new CheckpointError(
      `${location}: read of ${length} bytes at ${offset} is past the end (${size} bytes)`,
    );
  }
}

/** A reader over chunks held in memory (one `Uint8Array`, or several for data over 2 GB). */
export class ChunkedBytes implements ByteReader {
  readonly size: number;
  readonly #starts: number[] = [];

  constructor(readonly location: string, private readonly chunks: readonly Uint8Array[]) {
    let size = 0;
    for (const chunk of chunks) {
      this.#starts.push(size);
      size += chunk.length;
    }
    this.size = size;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.location, this.size, offset, length);
    const out = new Uint8Array(length);
    let filled = 0;
    // Binary search for the chunk holding `offset`, then copy across chunk boundaries.
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; filled < length && i < this.chunks.length; i++) {
      const from = offset + filled - this.#starts[i];
      const part = this.chunks[i].subarray(from, from + (length - filled));
      out.set(part, filled);
      filled += part.length;
    }
    return Promise.resolve(out);
  }

  close(): void {}
}

/** Joins byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Reads a stream into chunks of at most `chunkBytes` (default 256 MiB), never one huge buffer. */
export async function readStreamChunks(
  stream: ReadableStream<Uint8Array>,
  chunkBytes = 256 * 2 ** 20,
): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pendingBytes === 0) return;
    chunks.push(concatBytes(pending));
    pending = [];
    pendingBytes = 0;
  };
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let piece = value;
    while (piece.length > 0) {
      const take = Math.min(piece.length, chunkBytes - pendingBytes);
      pending.push(piece.subarray(0, take));
      pendingBytes += take;
      piece = piece.subarray(take);
      if (pendingBytes === chunkBytes) flush();
    }
  }
  flush();
  return chunks;
}

/** The total size from a `Content-Range: bytes a-b/total` header, or null. */
function rangeTotal(response: Response): number | null {
  const match = /\/(\d+)\s*$/.exec(response.headers.get("content-range") ?? "");
  return match ? Number(match[1]) : null;
}

/**
 * A reader over an HTTP(S) resource: ranged GETs when the server honours `Range` (only the
 * tensors asked for cross the network), else the whole body streamed into chunks once.
 */
export async function openUrl(url: string, fetchFn: typeof fetch = fetch): Promise<ByteReader> {
  let probe: Response;
  try {
    probe = await fetchFn(url, { headers: { Range: "bytes=0-0" } });
  } catch (e) {
    throw new CheckpointError(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (probe.status === 404) throw new CheckpointError(`${url}: not found (HTTP 404)`);
  if (!probe.ok) throw new CheckpointError(`${url}: HTTP ${probe.status}`);
  const total = probe.status === 206 ? rangeTotal(probe) : null;
  if (total === null) {
    if (!probe.body) return new ChunkedBytes(url, []);
    return new ChunkedBytes(url, await readStreamChunks(probe.body));
  }
  await probe.body?.cancel();
  return {
    location: url,
    size: total,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(url, total, offset, length);
      if (length === 0) return new Uint8Array(0);
      const response = await fetchFn(url, {
        headers: { Range: `bytes=${offset}-${offset + length - 1}` },
      });
      if (response.status !== 206) {
        throw new CheckpointError(`${url}: range request answered HTTP ${response.status}`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length !== length) {
        throw new CheckpointError(`${url}: range read gave ${bytes.length} of ${length} bytes`);
      }
      return bytes;
    },
    close() {},
  };
}
