/**
 * WebGPU set-up under Deno on headless machines: prefer lavapipe's Vulkan driver when the user
 * chose no backend (it has shader-f16 and is faster than llvmpipe over GL), give it a runtime
 * directory so it stays quiet, and read DITFASTATTN_DEBUG. The core never touches the
 * environment; a page gets its adapter from the browser.
 */

import { getGpu as getCoreGpu, type Gpu, type GpuOptions } from "../src/gpu/context.ts";
import { loadKernelChoices, saveKernelChoices } from "./kernel_choices.ts";

const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

function canUseEnv(): boolean {
  return Deno.permissions.querySync({ name: "env" }).state === "granted";
}

let prepared = false;

/** Sets DENO_WEBGPU_BACKEND and XDG_RUNTIME_DIR when unset and allowed (once). */
export function prepareDenoWebGpu(): void {
  if (prepared || !canUseEnv()) return;
  prepared = true;
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

function debugFromEnvironment(): boolean {
  try {
    const query = { name: "env", variable: "DITFASTATTN_DEBUG" } as const;
    if (Deno.permissions.querySync(query).state !== "granted") return false;
    return Deno.env.get("DITFASTATTN_DEBUG") === "1";
  } catch {
    return false;
  }
}

function environment(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The process-wide GPU context, after the Deno set-up above. With DITFASTATTN_KERNEL_CHOICES
 * set to a file path (and no `kernelChoices` option), measured kernel choices are loaded from
 * that file and saved back to it whenever trials add some.
 */
export async function getGpu(options: GpuOptions = {}): Promise<Gpu> {
  prepareDenoWebGpu();
  const path = environment("DITFASTATTN_KERNEL_CHOICES");
  const fromFile: GpuOptions = path && !options.kernelChoices
    ? {
      kernelChoices: await loadKernelChoices(path),
      onKernelChoicesChanged: (choices) => saveKernelChoices(path, choices),
    }
    : {};
  return getCoreGpu({ debug: debugFromEnvironment(), ...fromFile, ...options });
}
