/** Checks a checkpoint's keys and shapes against what a model expects, reporting every problem at once. */

import { CheckpointError, DeviceError } from "../errors.ts";
import type { TensorSource } from "../io/safetensors.ts";

const LOADABLE_FLOAT_DTYPES = ["F32", "F16", "BF16"];

/** Throws one CheckpointError listing all missing, unexpected, mis-shaped and mis-typed tensors. */
export function checkWeights(
  source: TensorSource,
  expected: ReadonlyMap<string, readonly number[]>,
  what: string,
): void {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    if (!source.has(name)) {
      problems.push(`missing ${name} [${shape}]`);
      continue;
    }
    const info = source.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${name}: expected shape [${shape}], got [${info.shape}]`);
    }
    if (!LOADABLE_FLOAT_DTYPES.includes(info.dtype)) {
      problems.push(`${name}: dtype ${info.dtype} is not a float type (F32, F16, BF16)`);
    }
  }
  for (const name of source.names()) {
    if (!expected.has(name)) problems.push(`unexpected ${name} [${source.info(name).shape}]`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 40).map((p) => "  " + p).join("\n");
    const more = problems.length > 40 ? `\n  ... and ${problems.length - 40} more` : "";
    throw new CheckpointError(
      `${source.path}: ${problems.length} problem(s) with the ${what} weights:\n${shown}${more}`,
    );
  }
}

/** A weight as it will be stored on the GPU. */
export interface GpuWeight {
  shape: readonly number[];
  dtype: "f32" | "f16";
}

/**
 * Throws one DeviceError listing every weight larger than one storage binding: kernels bind a
 * weight whole, so it could not be used (checked before anything is uploaded).
 */
export function checkWeightBindings(
  path: string,
  weights: ReadonlyMap<string, GpuWeight>,
  maxBindingBytes: number,
  what: string,
): void {
  const problems: string[] = [];
  for (const [name, { shape, dtype }] of weights) {
    const bytes = shape.reduce((a, d) => a * d, 1) * (dtype === "f16" ? 2 : 4);
    if (bytes > maxBindingBytes) problems.push(`${name} [${shape}] ${dtype}: ${bytes} bytes`);
  }
  if (problems.length === 0) return;
  throw new DeviceError(
    `${path}: ${problems.length} ${what} weight(s) exceed this device's ` +
      `maxStorageBufferBindingSize of ${maxBindingBytes} bytes (a kernel binds each weight ` +
      `whole; f16 storage halves them):\n${problems.map((p) => "  " + p).join("\n")}`,
  );
}
