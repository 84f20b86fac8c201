/**
 * Pool of storage buffers keyed by size class. Kernel outputs come from here; a released
 * buffer may be handed to a later dispatch of the same command stream, which is safe because
 * the GPU executes recorded work in order and nothing writes these buffers from the CPU.
 */

import { DeviceError } from "../errors.ts";

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Rounds a byte count up to the next class: powers of two and their 1.5× midpoints. */
export function sizeClass(bytes: number): number {
  const minimum = 256;
  if (bytes <= minimum) return minimum;
  const power = 2 ** Math.ceil(Math.log2(bytes));
  const mid = (power / 4) * 3;
  return bytes <= mid ? mid : power;
}

/** Reusable GPU buffers grouped by size class, with a count of live bytes for leak tests. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #liveBytes = 0;
  #pooledBytes = 0;
  #peakLiveBytes = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  /** Bytes held by tensors that have not been released. */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** Highest `liveBytes` seen since creation or the last `resetPeak()`. */
  get peakLiveBytes(): number {
    return this.#peakLiveBytes;
  }

  /** Bytes kept in free lists for reuse. */
  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  resetPeak(): void {
    this.#peakLiveBytes = this.#liveBytes;
  }

  /** Returns a buffer of at least `bytes` bytes from the free list, or a new one. */
  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new DeviceError(
        `${label}: a buffer of ${bytes} bytes exceeds the device's maxBufferSize ${this.maxBufferSize}`,
      );
    }
    const list = this.#free.get(size);
    const reused = list?.pop();
    this.countLive(size);
    if (reused) {
      this.#pooledBytes -= size;
      return reused;
    }
    return this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
  }

  /** Gives a buffer obtained from `acquire` back for reuse. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.#liveBytes -= size;
    this.#pooledBytes += size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
  }

  /** Counts a buffer that lives outside the free lists (uploads, weights). */
  countLive(bytes: number): void {
    this.#liveBytes += bytes;
    if (this.#liveBytes > this.#peakLiveBytes) this.#peakLiveBytes = this.#liveBytes;
  }

  uncountLive(bytes: number): void {
    this.#liveBytes -= bytes;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#pooledBytes = 0;
  }
}
