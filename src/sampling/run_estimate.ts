/**
 * Memory a sampling run needs, checked before any noise is drawn or buffer made: a size that
 * cannot fit is refused at once with the numbers, instead of minutes later as an allocation
 * failure or a WebGPU validation error.
 */

import { OptionError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";

/**
 * The most host memory one run's latents may take. The noise is a float32 array filled on the
 * CPU (a second per ~50 M values) before the first step; beyond this the run could hold neither
 * its latents nor its decoded images in a process's memory.
 */
export const MAX_HOST_LATENT_BYTES = 2 ** 32;

/** What a transformer sampling run holds whole, per the family's model. */
export interface SamplingSize {
  /** What is sampled, for messages ("PixArt at 65536×65536 px"). */
  what: string;
  /** Samples in the batch. */
  samples: number;
  /** Rows of the model batch (twice the samples under classifier-free guidance). */
  modelBatch: number;
  /** One sample's latent shape ([C, H, W], or [C, T, H, W] for video). */
  latentShape: readonly number[];
  /** Tokens per sample in the transformer (all frames for video). */
  tokens: number;
  /** Transformer width C. */
  width: number;
}

/** Bytes in a short human form ("1.5 GiB"). */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toPrecision(3)} ${units[unit]}`;
}

/**
 * Refuses a run whose latents do not fit host memory or whose latent or hidden-state tensor
 * (kept whole: every kernel binds it at once) exceeds one storage binding or buffer.
 */
export function checkSamplingFits(gpu: Gpu, size: SamplingSize): void {
  const { what, samples, modelBatch, latentShape, tokens, width } = size;
  const latentValues = latentShape.reduce((a, d) => a * d, 1);
  const advice = "fewer pixels (or frames) or fewer samples per batch";
  const hostBytes = samples * latentValues * 4;
  if (hostBytes > MAX_HOST_LATENT_BYTES) {
    throw new OptionError(
      `${what}: ${samples} latent(s) of [${latentShape.join(", ")}] need ${
        formatBytes(hostBytes)
      } ` +
        `of host memory, over the ${
          formatBytes(MAX_HOST_LATENT_BYTES)
        } a run may take; use ${advice}`,
    );
  }
  const binding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const whole: [string, number[]][] = [
    ["latent batch", [samples, ...latentShape]],
    ["hidden state", [modelBatch, tokens, width]],
  ];
  for (const [name, shape] of whole) {
    const bytes = shape.reduce((a, d) => a * d, 1) * 4;
    if (bytes > binding) {
      throw new OptionError(
        `${what}: the ${name} [${shape.join(", ")}] f32 needs ${formatBytes(bytes)}, over ` +
          `this device's limit of ${formatBytes(binding)} for one buffer binding; use ${advice}`,
      );
    }
  }
}
