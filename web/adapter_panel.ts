/// <reference lib="dom" />
/**
 * The page's options (from the query string) and its WebGPU set-up: which adapter it got, which
 * kernel family it uses and why, or a clear message when there is no WebGPU or no adapter.
 */

import type * as Lib from "../mod.ts";

export interface PageOptions {
  /** Kernel family forced by `?cpuKernels=1|0`; absent: recognised from the adapter info. */
  cpuKernels?: boolean;
  featureLevel?: "core" | "compatibility";
  powerPreference?: "low-power" | "high-performance";
  /** Keep model files in the origin private file system (`?cache=opfs`). */
  cacheInOpfs: boolean;
  /** The model folder's URL (default: the embedded tiny-fmnist served beside the page). */
  modelUrl: string;
}

function oneOf<T extends string>(
  value: string | null,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === null || value === "") return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(`?${name}=${value}: expected one of ${allowed.join(", ")}`);
}

export function readPageOptions(location: Location): PageOptions {
  const query = new URLSearchParams(location.search);
  const kernels = oneOf(query.get("cpuKernels"), ["1", "0", "true", "false"], "cpuKernels");
  return {
    cpuKernels: kernels === undefined ? undefined : kernels === "1" || kernels === "true",
    featureLevel: oneOf(query.get("featureLevel"), ["core", "compatibility"], "featureLevel"),
    powerPreference: oneOf(
      query.get("powerPreference"),
      ["low-power", "high-performance"],
      "powerPreference",
    ),
    cacheInOpfs: oneOf(query.get("cache"), ["opfs", "none"], "cache") === "opfs",
    modelUrl: new URL(query.get("model") ?? "assets/tiny-fmnist/", location.href).href,
  };
}

/** What the page reports about its GPU (also returned to tests). */
export interface AdapterReport {
  description: string;
  vendor: string;
  architecture: string;
  featureLevel: string;
  cpuKernels: boolean;
  /** "forced by ?cpuKernels=…" or "recognised from the adapter info". */
  kernelChoice: string;
  shaderF16: boolean;
  maxStorageBufferBindingSize: number;
  missingLimits: string[];
}

const NO_WEBGPU = "This browser has no WebGPU (navigator.gpu is missing). Use a browser with " +
  "WebGPU (Chromium 113+; on Linux start it with --enable-unsafe-webgpu) and open the page " +
  "from https:// or http://127.0.0.1 — WebGPU exists only in secure contexts.";

const NO_ADAPTER = "WebGPU is there but no adapter was granted (requestAdapter returned null): " +
  "the GPU may be blocklisted or WebGPU turned off. On Linux, Chromium needs " +
  "--enable-unsafe-webgpu; for lavapipe through ANGLE add --use-angle=vulkan " +
  "--use-webgpu-adapter=opengles and open this page with ?featureLevel=compatibility.";

function setText(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

/** Fills the (empty) adapter table with one `<th>` label and `<td>` value per row, and shows it. */
function showAdapterInfo(rows: readonly [label: string, value: string][]): void {
  const table = document.getElementById("adapter-info") as HTMLTableElement;
  for (const [label, value] of rows) {
    const row = table.insertRow();
    const heading = document.createElement("th");
    heading.textContent = label;
    row.append(heading);
    row.insertCell().textContent = value;
  }
  table.hidden = false;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Shows an error in the adapter panel (and returns it, for throwing). */
export function showAdapterError(message: string): Error {
  const status = document.getElementById("adapter-status")!;
  status.textContent = message;
  status.className = "error";
  return new Error(message);
}

/**
 * Requests the adapter (to tell "no WebGPU" from "no adapter"), then the library's Gpu with the
 * same request options, and fills the adapter panel.
 */
export async function acquireGpu(
  lib: typeof Lib,
  options: PageOptions,
): Promise<{ gpu: Lib.Gpu; report: AdapterReport }> {
  if (!isSecureContext) {
    throw showAdapterError(`This page is not a secure context (${location.origin}). ${NO_WEBGPU}`);
  }
  if (!("gpu" in navigator) || !navigator.gpu) throw showAdapterError(NO_WEBGPU);
  // featureLevel is newer than the WebGPU types this is checked against.
  const adapterOptions = {
    ...(options.featureLevel ? { featureLevel: options.featureLevel } : {}),
    ...(options.powerPreference ? { powerPreference: options.powerPreference } : {}),
  } as GPURequestAdapterOptions;
  const probe = await navigator.gpu.requestAdapter(adapterOptions);
  if (!probe) throw showAdapterError(NO_ADAPTER);
  let gpu: Lib.Gpu;
  try {
    gpu = await lib.getGpu({ adapterOptions, cpuKernels: options.cpuKernels });
  } catch (e) {
    throw showAdapterError(`Could not set up the GPU: ${(e as Error).message}`);
  }
  const { description, vendor, architecture } = gpu.adapterInfo;
  const empty = description === "" && vendor === "" && architecture === "";
  const kernelChoice = options.cpuKernels !== undefined
    ? `forced by ?cpuKernels=${options.cpuKernels ? 1 : 0}`
    : empty
    ? "default (the adapter reports no info; add ?cpuKernels=1 for a software adapter)"
    : "recognised from the adapter info";
  const report: AdapterReport = {
    description,
    vendor,
    architecture,
    featureLevel: options.featureLevel ?? "core",
    cpuKernels: gpu.cpuKernels,
    kernelChoice,
    shaderF16: gpu.hasShaderF16,
    maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
    missingLimits: [...gpu.missingLimits],
  };
  const shown = (value: string) => value === "" ? "(empty)" : value;
  setText("adapter-status", "WebGPU adapter granted.");
  showAdapterInfo([
    ["description", shown(description)],
    ["vendor", shown(vendor)],
    ["architecture", shown(architecture)],
    ["feature level", report.featureLevel],
    ["kernels", `${gpu.cpuKernels ? "CPU-shaped" : "GPU-shaped"} (${kernelChoice})`],
    ["shader-f16", gpu.hasShaderF16 ? "yes" : "no"],
    ["largest binding", mebibytes(report.maxStorageBufferBindingSize)],
    ["missing limits", report.missingLimits.join("; ") || "none"],
  ]);
  return { gpu, report };
}
