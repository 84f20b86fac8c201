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

/**
 * Compares the config's block count with the blocks the checkpoint holds (`prefix.N.` names)
 * before anything is sized from the config, so `num_layers: 1e6` fails at once, naming both.
 */
export function checkBlockCount(
  source: TensorSource,
  prefix: string,
  layers: number,
  key: string,
): void {
  const pattern = new RegExp(`^${prefix.replaceAll(".", "\\.")}\\.(\\d+)\\.`);
  const indices = new Set<number>();
  for (const name of source.names()) {
    const match = pattern.exec(name);
    if (match) indices.add(Number(match[1]));
  }
  if (indices.size === layers) return;
  const held = indices.size === 0
    ? `no ${prefix}.N tensors`
    : `${indices.size} blocks (${prefix}.${Math.min(...indices)} … ${Math.max(...indices)})`;
  throw new CheckpointError(
    `${source.path}: the config's "${key}" is ${layers} but the checkpoint holds ${held}`,
  );
}

/**
 * Index and value of the first NaN or ±Infinity in `values`, or null. Tested on the bits (an
 * all-ones exponent), about a nanosecond a value for f32 and f16 alike, where reading a
 * Float16Array element as a number costs several.
 */
export function firstNonFinite(
  values: Float32Array | Float16Array,
): { index: number; value: number } | null {
  const { buffer, byteOffset, length } = values;
  let index = -1;
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(buffer, byteOffset, length);
    for (let i = 0; i < length; i++) {
      if ((bits[i] & 0x7f800000) === 0x7f800000) {
        index = i;
        break;
      }
    }
  } else {
    const bits = new Uint16Array(buffer, byteOffset, length);
    for (let i = 0; i < length; i++) {
      if ((bits[i] & 0x7c00) === 0x7c00) {
        index = i;
        break;
      }
    }
  }
  return index < 0 ? null : { index, value: values[index] };
}

/**
 * `source` with every float read checked for NaN and ±Infinity, which would otherwise give
 * black images and a clean exit. The pass runs over arrays the loader reads anyway (about a
 * nanosecond a value, small next to reading the bytes) and names the tensor and element.
 */
export function finiteWeights(source: TensorSource): TensorSource {
  const check = <T extends Float32Array | Float16Array>(name: string, values: T, as: string) => {
    const bad = firstNonFinite(values);
    if (bad) {
      const overflow = as === "f16" && !Number.isNaN(bad.value)
        ? " (a stored value beyond ±65504 overflows f16 storage: try dtype f32)"
        : "";
      throw new CheckpointError(
        `${source.path}: tensor "${name}" holds ${bad.value} at element ${bad.index} ` +
          `(as ${as}); weights must be finite${overflow}`,
      );
    }
    return values;
  };
  return {
    get path() {
      return source.path;
    },
    names: () => source.names(),
    has: (name) => source.has(name),
    info: (name) => source.info(name),
    readFloat32: async (name) => check(name, await source.readFloat32(name), "f32"),
    readFloat16: async (name) => check(name, await source.readFloat16(name), "f16"),
    readInt: (name) => source.readInt(name),
    readRaw: (name) => source.readRaw(name),
    close: () => source.close(),
  };
}
