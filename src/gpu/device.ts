/** WebGPU adapter and device acquisition on headless machines (lavapipe / llvmpipe included). */

import { DeviceError } from "../errors.ts";

const HOW_TO_GET_AN_ADAPTER = [
  "No WebGPU adapter is available. On a headless Linux machine without a GPU:",
  "  apt-get install -y mesa-vulkan-drivers     # lavapipe, a Vulkan driver on the CPU",
  "  export DENO_WEBGPU_BACKEND=vulkan           # or 'gl' for llvmpipe (no shader-f16)",
  "  export XDG_RUNTIME_DIR=$(mktemp -d)         # silences a lavapipe warning",
  "and run Deno with --unstable-webgpu if your Deno version needs it. In a browser, WebGPU",
  "must be enabled (Chromium: --enable-unsafe-webgpu on Linux).",
].join("\n");

export interface AcquiredDevice {
  adapter: GPUAdapter | null;
  device: GPUDevice;
  /** The adapter's description, or vendor/architecture where a browser leaves it empty. */
  description: string;
  vendor: string;
  architecture: string;
  hasShaderF16: boolean;
  /** Limits the models would use that this device has below the adapter-independent default. */
  missingLimits: string[];
}

export interface DeviceRequest {
  wantF16?: boolean;
  /** Passed to `navigator.gpu.requestAdapter` (e.g. `featureLevel: "compatibility"`). */
  adapterOptions?: GPURequestAdapterOptions;
  /** Use this device (made by the caller) instead of requesting one. */
  device?: GPUDevice;
  /** Its adapter, when the caller has it (for vendor/architecture). */
  adapter?: GPUAdapter;
}

/**
 * Limits the larger models want (the 128 MiB binding and 256 MiB buffer the spec guarantees are
 * enough for the embedded and tiny models; big checkpoints split their work below these).
 */
const WANTED_LIMITS: Readonly<Record<string, number>> = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
};

function describeAdapter(info: GPUAdapterInfo | undefined): {
  description: string;
  vendor: string;
  architecture: string;
} {
  const vendor = info?.vendor ?? "";
  const architecture = info?.architecture ?? "";
  const description = info?.description ||
    [vendor, architecture, info?.device ?? ""].filter((s) => s !== "").join(" ");
  return { description, vendor, architecture };
}

function missingLimitsOf(limits: GPUSupportedLimits): string[] {
  const missing: string[] = [];
  for (const [name, wanted] of Object.entries(WANTED_LIMITS)) {
    const have = limits[name as keyof GPUSupportedLimits] as number;
    if (typeof have === "number" && have < wanted) missing.push(`${name} ${have} < ${wanted}`);
  }
  return missing;
}

/** Requests an adapter and a device with the adapter's largest buffer and workgroup limits. */
export async function acquireDevice(options: DeviceRequest = {}): Promise<AcquiredDevice> {
  if (options.device) {
    const device = options.device;
    const info = options.adapter?.info ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return {
      adapter: options.adapter ?? null,
      device,
      ...describeAdapter(info),
      hasShaderF16: device.features.has("shader-f16"),
      missingLimits: missingLimitsOf(device.limits),
    };
  }
  if (typeof navigator === "undefined" || !navigator.gpu) {
    throw new DeviceError("navigator.gpu is missing.\n" + HOW_TO_GET_AN_ADAPTER);
  }
  const adapter = await navigator.gpu.requestAdapter({
    powerPreference: "high-performance",
    ...options.adapterOptions,
  });
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
  // Kernels with a subgroup path use it when the device has the feature (see shaders/).
  const subgroups = "subgroups" as GPUFeatureName;
  if (adapter.features.has(subgroups)) requiredFeatures.push(subgroups);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return {
    adapter,
    device,
    ...describeAdapter(adapter.info),
    hasShaderF16: requiredFeatures.includes("shader-f16"),
    missingLimits: missingLimitsOf(device.limits),
  };
}
