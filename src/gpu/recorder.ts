/**
 * Batches dispatches and copies into one command encoder so a whole denoising step is a single
 * submit. Buffers released while commands are pending are destroyed only after that submit.
 */

import type { CapturedDispatch } from "./profiler.ts";

export class CommandRecorder {
  /** When set, every dispatch is also appended here (for `replayTimes`). */
  capture: CapturedDispatch[] | null = null;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #destroyAfterSubmit: GPUBuffer[] = [];
  #heldForCapture: GPUBuffer[] = [];
  #pendingDispatches = 0;
  #submits = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Number of dispatches recorded since the last submit. */
  get pendingDispatches(): number {
    return this.#pendingDispatches;
  }

  /** Number of queue submits so far (a test can check a step is one submit). */
  get submits(): number {
    return this.#submits;
  }

  #ensureEncoder(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  dispatch(
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    workgroups: readonly [number, number, number],
    name = "kernel",
  ): void {
    if (!this.#pass) this.#pass = this.#ensureEncoder().beginComputePass();
    this.capture?.push({ name, pipeline, bindGroup, workgroups });
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, bindGroup);
    this.#pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.#pendingDispatches++;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#endPass();
    this.#ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#pendingDispatches++;
  }

  /** Destroys `buffer` once the commands recorded so far have been submitted. */
  destroyAfterSubmit(buffer: GPUBuffer): void {
    // Captured dispatches are replayed later: their buffers must outlive the capture.
    if (this.capture) this.#heldForCapture.push(buffer);
    else if (this.#encoder) this.#destroyAfterSubmit.push(buffer);
    else buffer.destroy();
  }

  /** Ends a capture: returns what was captured and frees the buffers kept for it. */
  endCapture(): { dispatches: CapturedDispatch[]; release: () => void } {
    const dispatches = this.capture ?? [];
    this.capture = null;
    const held = this.#heldForCapture;
    this.#heldForCapture = [];
    return { dispatches, release: () => held.forEach((b) => b.destroy()) };
  }

  /** Submits everything recorded so far (no-op when nothing is pending). */
  submit(): void {
    this.#endPass();
    if (this.#encoder) {
      this.device.queue.submit([this.#encoder.finish()]);
      this.#encoder = null;
      this.#pendingDispatches = 0;
      this.#submits++;
    }
    for (const b of this.#destroyAfterSubmit) b.destroy();
    this.#destroyAfterSubmit = [];
  }
}
