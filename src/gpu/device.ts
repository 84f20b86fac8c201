/** WebGPU adapter and device acquisition on headless machines (lavapipe / llvmpipe included). */

import { DeviceError } from "../errors.ts";

const HOW_TO_GET_AN_ADAPTER = [
  "No WebGPU adapter is available. On a headless Linux machine without a GPU:",
  "  apt-get install -y mesa-vulkan-drivers     # lavapipe, a Vulkan driver on the CPU",
  "  export DENO_WEBGPU_BACKEND=vulkan           # or 'gl' for llvmpipe (no shader-f16)",
  "  export XDG_RUNTIME_DIR=$(mktemp -d)         # silences a lavapipe warning",
  "and run Deno with --unstable-webgpu if your Deno version needs it.",
].join("\n");

const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

function canUseEnv(): boolean {
  return Deno.permissions.querySync({ name: "env" }).state === "granted";
}

/**
 * Prefers Vulkan (lavapipe has shader-f16 and is faster than llvmpipe over GL) when the user
 * did not choose a backend, and gives lavapipe a runtime directory so it stays quiet.
 */
function prepareEnvironment(): void {
  if (!canUseEnv()) return;
  if (!Deno.env.get("DENO_WEBGPU_BACKEND")) {
    try {
      Deno.statSync(LAVAPIPE_ICD);
      Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
    } catch {
      // No lavapipe: leave the choice to wgpu.
    }
  }
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    try {
      Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync({ prefix: "ditfastattn-xdg-" }));
    } catch {
      // Without write permission the warning is harmless.
    }
  }
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  description: string;
  hasShaderF16: boolean;
}

/** Requests an adapter and a device with the adapter's largest buffer and workgroup limits. */
export async function acquireDevice(options: { wantF16?: boolean } = {}): Promise<AcquiredDevice> {
  prepareEnvironment();
  if (typeof navigator === "undefined" || !navigator.gpu) {
    throw new DeviceError("navigator.gpu is missing.\n" + HOW_TO_GET_AN_ADAPTER);
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new DeviceError(HOW_TO_GET_AN_ADAPTER);
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxBufferSize: limits.maxBufferSize,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  };
  const hasShaderF16 = adapter.features.has("shader-f16");
  const requiredFeatures: GPUFeatureName[] = [];
  if (hasShaderF16 && options.wantF16 !== false) requiredFeatures.push("shader-f16");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const description = info.description || `${info.vendor} ${info.device}`.trim();
  return { adapter, device, description, hasShaderF16: requiredFeatures.includes("shader-f16") };
}
