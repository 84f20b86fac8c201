/** Compute pipelines cached by WGSL text and entry point; compilation errors carry the kernel name. */

import { DeviceError } from "../errors.ts";

export class PipelineCache {
  #pipelines = new Map<string, GPUComputePipeline>();
  #pendingChecks: Promise<void>[] = [];

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.#pipelines.size;
  }

  /** The pipeline for `wgsl`, compiled on first use. */
  get(name: string, wgsl: string, entryPoint = "main"): GPUComputePipeline {
    const key = entryPoint + "\u0000" + wgsl;
    const cached = this.#pipelines.get(key);
    if (cached) return cached;
    // Compilation is checked once per distinct shader, so the error scope is off the hot path.
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: wgsl, label: name });
    const pipeline = this.device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint },
      label: name,
    });
    const scope = this.device.popErrorScope();
    this.#pendingChecks.push(
      scope.then(async (error) => {
        if (!error) return;
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `  line ${m.lineNum}: ${m.message}`).join("\n");
        throw new DeviceError(`kernel ${name} failed to compile: ${error.message}\n${messages}`);
      }),
    );
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Throws the first compilation error of pipelines created since the last check. */
  async check(): Promise<void> {
    const checks = this.#pendingChecks;
    this.#pendingChecks = [];
    await Promise.all(checks);
  }
}
