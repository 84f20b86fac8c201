/** Running kernel tests under each variant of a kernel family (see src/gpu/kernel_choice.ts). */

import type { Gpu } from "../src/gpu/context.ts";
import type { KernelFamily } from "../src/gpu/kernel_choice.ts";

export const ATTENTION_KERNELS = ["direct", "flash"] as const;

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
