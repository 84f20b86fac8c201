/** Error families of the library: each names the file, tensor, shape or kernel involved. */

/**
 * The base of the library's errors; `name` is the family's class name, so the CLI can print
 * `CheckpointError: …` as one line.
 */
export class LibraryError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A checkpoint, config or safetensors file is missing, malformed or does not match the model. */
export class CheckpointError extends LibraryError {}

/** No usable WebGPU adapter, or the device reported a validation / out-of-memory error. */
export class DeviceError extends LibraryError {}

/** A tensor has the wrong shape or dtype for the operation it was given to. */
export class ShapeError extends LibraryError {}

/** A compression plan does not fit the model, steps or batch it is used with. */
export class PlanError extends LibraryError {}

/** A user-supplied option (label, step count, threshold...) is out of range. */
export class OptionError extends LibraryError {}

/** An output file (image, plan, embeddings, report) cannot be written where asked. */
export class OutputError extends LibraryError {}

/**
 * A computation produced NaN or infinity (weights or options that overflow float32); the
 * message names the step or tensor where it appeared.
 */
export class NumericsError extends LibraryError {}

/** A data set (Fashion-MNIST for the demo metrics) is missing or malformed. */
export class DatasetError extends LibraryError {}

/** The error classes above, by name (the CLI prints these as one line, without a stack). */
export const LIBRARY_ERROR_NAMES: readonly string[] = [
  "CheckpointError",
  "DeviceError",
  "ShapeError",
  "PlanError",
  "OptionError",
  "OutputError",
  "NumericsError",
  "DatasetError",
];

/** True for an error of the library's own families. */
export function isLibraryError(e: unknown): e is Error {
  return e instanceof Error && LIBRARY_ERROR_NAMES.includes(e.name);
}
