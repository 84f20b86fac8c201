/** Running kernel tests under each variant of a kernel family (see src/gpu/kernel_choice.ts). */

import type { Gpu } from "../src/gpu/context.ts";
import type { KernelFamily } from "../src/gpu/kernel_choice.ts";

/**
 * The attention kernels the tests run: both, or those named in DITFASTATTN_TEST_ATTENTION
 * (comma-separated). `deno task test:swiftshader` runs only "flash": SwiftShader's shader
 * compiler takes over 4 GB on the direct kernel's largest register tiles (fused, 32 queries per
 * invocation), which lavapipe compiles in seconds.
 */
export const ATTENTION_KERNELS: readonly string[] = (() => {
  const all = ["direct", "flash"];
  const chosen = Deno.env.get("DITFASTATTN_TEST_ATTENTION");
  return chosen ? all.filter((k) => chosen.split(",").includes(k)) : all;
})();

/** False when the direct attention kernel is left out (tests of it alone are then ignored). */
export const TEST_DIRECT_ATTENTION: boolean = ATTENTION_KERNELS.includes("direct");

/**
 * Runs `body` with `variant` forced for `family` on `gpu`, then restores the previous setting;
 * fails unless the body actually launched that variant.
 */
export async function withKernel<T>(
  gpu: Gpu,
  family: KernelFamily,
  variant: string,
  body: () => T | Promise<T>,
): Promise<T> {
  const previous = gpu.kernels.forced(family);
  const name = `${family}/${variant}`;
  const before = gpu.kernels.launches.get(name) ?? 0;
  gpu.kernels.force(family, variant);
  try {
    const result = await body();
    if ((gpu.kernels.launches.get(name) ?? 0) === before) {
      throw new Error(`the ${variant} ${family} kernel was forced but never launched`);
    }
    return result;
  } finally {
    gpu.kernels.force(family, previous);
  }
}
