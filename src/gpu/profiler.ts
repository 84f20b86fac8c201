/**
 * Per-kernel timing by capture and replay: while capturing, every recorded dispatch is also
 * remembered (pipeline, bind group, grid); afterwards each one is replayed alone, submitted and
 * awaited, and its wall time measured. lavapipe's timestamp queries do not reflect the time
 * its compute threads take, so wall time on an otherwise idle queue is the honest measure there.
 * Benchmarks only: replay reruns kernels on whatever data their buffers hold now.
 */

export interface CapturedDispatch {
  name: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
}

export interface KernelTime {
  name: string;
  calls: number;
  seconds: number;
}

async function timeSubmit(
  device: GPUDevice,
  encode: (pass: GPUComputePassEncoder) => void,
): Promise<number> {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  encode(pass);
  pass.end();
  const started = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return (performance.now() - started) / 1000;
}

/**
 * Replays each captured dispatch `repeats` times (best time kept) and sums per kernel name,
 * after subtracting the cost of an empty submit.
 */
export async function replayTimes(
  device: GPUDevice,
  dispatches: readonly CapturedDispatch[],
  repeats = 3,
): Promise<KernelTime[]> {
  let overhead = Infinity;
  for (let i = 0; i < 5; i++) overhead = Math.min(overhead, await timeSubmit(device, () => {}));
  const totals = new Map<string, KernelTime>();
  for (const d of dispatches) {
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      best = Math.min(
        best,
        await timeSubmit(device, (pass) => {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(...d.workgroups);
        }),
      );
    }
    const entry = totals.get(d.name) ?? { name: d.name, calls: 0, seconds: 0 };
    entry.calls++;
    entry.seconds += Math.max(best - overhead, 0);
    totals.set(d.name, entry);
  }
  return [...totals.values()].sort((a, b) => b.seconds - a.seconds);
}
