/**
 * The GPU context every tensor and kernel belongs to: device, buffer pool, pipeline cache and
 * command recorder, plus device-error reporting that names the kernel.
 */

import { DeviceError } from "../errors.ts";
import { BufferPool } from "./buffer_pool.ts";
import { acquireDevice } from "./device.ts";
import {
  adapterKey,
  checkForcedVariants,
  type KernelChoices,
  KernelChooser,
  type KernelFamily,
} from "./kernel_choice.ts";
import { PipelineCache } from "./pipeline_cache.ts";
import { type KernelTime, replayTimes } from "./profiler.ts";
import { CommandRecorder } from "./recorder.ts";

/** A storage-buffer binding: a whole buffer or a byte range of one. */
export interface BufferBinding {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  /** The tensor the range belongs to, named in binding-limit errors. */
  owner?: { readonly label: string; readonly shape: readonly number[]; readonly dtype: string };
}

/** One kernel launch: WGSL text (shapes baked in), its bindings in order, and the grid. */
export interface KernelCall {
  /** Kernel name, used in error messages and debug scopes. */
  name: string;
  wgsl: string;
  entryPoint?: string;
  /** `@group(0) @binding(i)` gets `bindings[i]`. */
  bindings: readonly BufferBinding[];
  workgroups: readonly [number, number?, number?];
}

export interface GpuOptions {
  /** Request `shader-f16` when the adapter has it (default true). */
  wantF16?: boolean;
  /**
   * Check every dispatch in its own error scope and throw with the kernel's name
   * (slow; default false; the Deno entry turns it on with DITFASTATTN_DEBUG=1).
   */
  debug?: boolean;
  /** Use this device (a page that already has one) instead of requesting an adapter. */
  device?: GPUDevice;
  /** Its adapter, when known (vendor and architecture feed the kernel choice). */
  adapter?: GPUAdapter;
  /** Adapter request options, e.g. `{ featureLevel: "compatibility" }` or a power preference. */
  adapterOptions?: GPURequestAdapterOptions;
  /**
   * The fixed default kernels: true for the kernels shaped for CPU adapters (lavapipe, llvmpipe,
   * SwiftShader), false for the GPU-shaped ones. Default: recognised from the adapter's
   * description, vendor and architecture (browsers may report them empty). With kernel trials
   * on (the default) this is only the first guess: measurement picks the variant.
   */
  cpuKernels?: boolean;
  /**
   * Time each kernel variant on the first call of a shape class and keep the fastest (default
   * true; see src/gpu/kernel_choice.ts). The trials run at the next `sync()`. false: always the
   * fixed defaults (`cpuKernels`).
   */
  kernelTrials?: boolean;
  /**
   * Use this variant of a kernel family wherever it can run the call (linear: "tiled", "direct",
   * "gemm"; attention: "direct", "flash").
   */
  forceVariants?: Partial<Record<KernelFamily, string>>;
  /** Measured choices to start from (e.g. loaded from a file); trials add to this store. */
  kernelChoices?: KernelChoices;
  /** Called after trials added choices (the Deno entry saves them to a file with it). */
  onKernelChoicesChanged?: (choices: KernelChoices) => void | Promise<void>;
  /**
   * Caps maxStorageBufferBindingSize below the adapter's (tests drive the splitting and the
   * binding-limit errors with a small cap).
   */
  maxStorageBindingBytes?: number;
}

/** `limits` with maxStorageBufferBindingSize lowered to `cap` (other limits read through). */
function cappedLimits(limits: GPUSupportedLimits, cap: number): GPUSupportedLimits {
  const binding = Math.min(cap, limits.maxStorageBufferBindingSize);
  return new Proxy(limits, {
    get: (target, key) =>
      key === "maxStorageBufferBindingSize" ? binding : target[key as keyof GPUSupportedLimits],
  });
}

function mebibytes(bytes: number): string {
  const mib = bytes / 2 ** 20;
  return `${mib >= 10 ? mib.toFixed(0) : mib.toPrecision(2)} MiB`;
}

/** What a binding holds, for error messages: the tensor when known, else the buffer label. */
function describeBinding(b: BufferBinding): string {
  const o = b.owner;
  return o ? `tensor "${o.label}" [${o.shape}] ${o.dtype}` : `buffer "${b.buffer.label}"`;
}

export class Gpu {
  readonly pool: BufferPool;
  readonly limits: GPUSupportedLimits;
  readonly pipelines: PipelineCache;
  readonly recorder: CommandRecorder;
  readonly debug: boolean;
  #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  #deviceErrors: string[] = [];
  #debugChecks: Promise<void>[] = [];
  #lost: string | null = null;

  /** Kernels shaped for CPU adapters are the fixed defaults (see GpuOptions.cpuKernels). */
  readonly cpuKernels: boolean;
  /** Measured kernel choice (see GpuOptions.kernelTrials). */
  readonly kernels: KernelChooser;
  /** The device has the `subgroups` feature (kernels with a subgroup path use it). */
  readonly hasSubgroups: boolean;

  private constructor(
    readonly device: GPUDevice,
    /** The adapter's description, vendor and architecture, as reported (may be empty). */
    readonly adapterInfo: { description: string; vendor: string; architecture: string },
    readonly hasShaderF16: boolean,
    /** Limits below what the larger models want (see acquireDevice). */
    readonly missingLimits: readonly string[],
    options: GpuOptions,
  ) {
    this.debug = options.debug ?? false;
    this.hasSubgroups = device.features.has("subgroups");
    const maxStorageBindingBytes = options.maxStorageBindingBytes;
    const { description, vendor, architecture } = adapterInfo;
    this.cpuKernels = options.cpuKernels ??
      /llvmpipe|lavapipe|swiftshader|software/i.test(`${description} ${vendor} ${architecture}`);
    this.limits = maxStorageBindingBytes === undefined
      ? device.limits
      : cappedLimits(device.limits, maxStorageBindingBytes);
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.pipelines = new PipelineCache(device);
    this.recorder = new CommandRecorder(device);
    const recorder = this.recorder;
    this.kernels = new KernelChooser({
      adapterKey: adapterKey(adapterInfo, device.limits, device.features),
      flush: () => recorder.submit(),
      workDone: () => device.queue.onSubmittedWorkDone(),
      checkErrors: () => this.checkErrors(),
      failureOf: (body) => this.#failureOf(body),
      withoutCapture: async (body) => {
        const capture = recorder.capture;
        recorder.capture = null;
        try {
          return await body();
        } finally {
          recorder.capture = capture;
        }
      },
    }, {
      trials: options.kernelTrials,
      force: options.forceVariants,
      choices: options.kernelChoices,
      onChoicesChanged: options.onKernelChoicesChanged,
    });
    device.addEventListener("uncapturederror", (event) => {
      this.#deviceErrors.push((event as GPUUncapturedErrorEvent).error.message);
    });
    device.lost.then((info) => {
      this.#lost = info.message || info.reason || "unknown reason";
    });
  }

  static async create(options: GpuOptions = {}): Promise<Gpu> {
    checkForcedVariants(options.forceVariants ?? {});
    const acquired = await acquireDevice(options);
    const { description, vendor, architecture } = acquired;
    return new Gpu(
      acquired.device,
      { description, vendor, architecture },
      acquired.hasShaderF16,
      acquired.missingLimits,
      options,
    );
  }

  /** The adapter's description (vendor and architecture where a browser gives no description). */
  get adapterDescription(): string {
    return this.adapterInfo.description || "unknown adapter";
  }

  /**
   * Throws a DeviceError naming the kernel, the tensor and the limit when a binding is larger
   * than one storage binding may be (WebGPU would otherwise fail validation at submit time).
   */
  checkBinding(kernel: string, index: number, binding: BufferBinding): void {
    const limit = this.limits.maxStorageBufferBindingSize;
    if (binding.size <= limit) return;
    throw new DeviceError(
      `kernel ${kernel}: binding ${index} (${describeBinding(binding)}) is ${binding.size} ` +
        `bytes, over this device's maxStorageBufferBindingSize of ${limit} bytes ` +
        `(${mebibytes(limit)}); use a smaller batch or image size`,
    );
  }

  /** Records one kernel launch into the current command stream. */
  dispatch(call: KernelCall): void {
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    const groups: [number, number, number] = [
      call.workgroups[0],
      call.workgroups[1] ?? 1,
      call.workgroups[2] ?? 1,
    ];
    if (groups.some((g) => g > maxGroups || g < 0 || !Number.isInteger(g))) {
      throw new DeviceError(
        `kernel ${call.name}: workgroup grid [${groups}] exceeds the device limit of ${maxGroups} per dimension`,
      );
    }
    if (groups[0] * groups[1] * groups[2] === 0) return;
    for (const [i, b] of call.bindings.entries()) this.checkBinding(call.name, i, b);
    const pipeline = this.pipelines.get(call.name, call.wgsl, call.entryPoint);
    let layout = this.#layouts.get(pipeline);
    if (!layout) {
      layout = pipeline.getBindGroupLayout(0);
      this.#layouts.set(pipeline, layout);
    }
    if (this.debug) this.device.pushErrorScope("validation");
    const bindGroup = this.device.createBindGroup({
      layout,
      entries: call.bindings.map((b, i) => ({
        binding: i,
        resource: { buffer: b.buffer, offset: b.offset, size: b.size },
      })),
    });
    this.recorder.dispatch(pipeline, bindGroup, groups, call.name);
    if (this.debug) {
      this.recorder.submit();
      const name = call.name;
      this.#debugChecks.push(
        this.device.popErrorScope().then((error) => {
          if (error) throw new DeviceError(`kernel ${name}: ${error.message}`);
        }),
      );
    }
  }

  /** What `body` throws or makes the device report (kernel trials), or null. */
  async #failureOf(body: () => Promise<void>): Promise<string | null> {
    const scopes: GPUErrorFilter[] = ["out-of-memory", "internal", "validation"];
    for (const scope of scopes) this.device.pushErrorScope(scope);
    let failure: string | null = null;
    try {
      await body();
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    this.flush();
    for (const _ of scopes) {
      const error = await this.device.popErrorScope();
      if (error && failure === null) failure = error.message;
    }
    try {
      await this.pipelines.check();
    } catch (e) {
      if (failure === null) failure = e instanceof Error ? e.message : String(e);
    }
    return failure;
  }

  /** Starts remembering every dispatch, for per-kernel timing with `stopCapture`. */
  startCapture(): void {
    this.recorder.capture = [];
  }

  /**
   * Stops capturing and times each captured dispatch alone (benchmarks only): seconds per
   * kernel name, longest first.
   */
  async stopCapture(repeats = 3): Promise<KernelTime[]> {
    await this.sync();
    const { dispatches, release } = this.recorder.endCapture();
    try {
      return await replayTimes(this.device, dispatches, repeats);
    } finally {
      release();
    }
  }

  /** Records a buffer-to-buffer copy (offsets and size multiples of 4). */
  copy(src: BufferBinding, dst: BufferBinding, bytes: number): void {
    this.recorder.copy(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  }

  /** Submits the recorded commands without waiting for them. */
  flush(): void {
    this.recorder.submit();
  }

  /**
   * Submits and waits for the GPU, then throws any device error seen so far. Runs the kernel
   * trials queued since the last sync (see GpuOptions.kernelTrials).
   */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
    await this.kernels.runPending();
  }

  /** Throws a DeviceError for compilation, validation or device-loss errors seen so far. */
  async checkErrors(): Promise<void> {
    await this.pipelines.check();
    const checks = this.#debugChecks;
    this.#debugChecks = [];
    await Promise.all(checks);
    if (this.#lost) throw new DeviceError(`the WebGPU device was lost: ${this.#lost}`);
    if (this.#deviceErrors.length > 0) {
      const errors = this.#deviceErrors.splice(0);
      throw new DeviceError(
        `WebGPU reported ${errors.length} error(s); rerun with DITFASTATTN_DEBUG=1 to name ` +
          `the kernel. First: ${errors[0]}`,
      );
    }
  }

  /** Copies `bytes` from a binding to the CPU (submits pending work first). */
  async readBytes(src: BufferBinding, bytes: number): Promise<ArrayBuffer> {
    const padded = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size: padded,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.recorder.copy(src.buffer, src.offset, staging, 0, padded);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    await this.checkErrors();
    return out;
  }

  /** Creates a buffer holding `data` (written at creation, so no ordering hazard). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const buffer = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
      label,
    });
    new Uint8Array(buffer.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    buffer.unmap();
    return buffer;
  }

  /** Frees pooled buffers and the device. */
  destroy(): void {
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }
}

let sharedGpu: Promise<Gpu> | null = null;

/** The process-wide GPU context, created on first use. */
export function getGpu(options?: GpuOptions): Promise<Gpu> {
  if (!sharedGpu) sharedGpu = Gpu.create(options);
  return sharedGpu;
}
