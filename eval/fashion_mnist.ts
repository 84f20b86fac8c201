/**
 * Reader for the Fashion-MNIST files of the Debian package `dataset-fashion-mnist` (gzipped IDX,
 * the format of the original MNIST distribution), plus the mapping to and from the embedded
 * model's 32×32 [-1, 1] sample space.
 *
 * @module
 */

import { join } from "node:path";
import { DatasetError, ShapeError } from "../src/errors.ts";

/** The dataset is missing, truncated or not in the IDX format expected (a library error family). */
export { DatasetError };

/** Where `apt-get install -y dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** One split of Fashion-MNIST: `count` row-major 28×28 uint8 images and their labels 0..9. */
export interface FashionMnist {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: 28;
  width: 28;
}

/** Options of `loadFashionMnist`. */
export interface FashionMnistOptions {
  /** Directory holding the four `.gz` files; default `FASHION_MNIST_DIR`. */
  dir?: string;
  /** Read only the first `limit` examples (decompression stops early). */
  limit?: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;
const IMAGES_HEADER_BYTES = 16;
const LABELS_HEADER_BYTES = 8;
const CLASS_COUNT = 10;
const MODEL_SIDE = 32;
const MODEL_PAD = (MODEL_SIDE - SIDE) / 2;

const SPLIT_PREFIX = { train: "train", test: "t10k" } as const;

function splitFiles(split: "train" | "test", dir: string): { images: string; labels: string } {
  const prefix = SPLIT_PREFIX[split];
  return {
    images: join(dir, `${prefix}-images-idx3-ubyte.gz`),
    labels: join(dir, `${prefix}-labels-idx1-ubyte.gz`),
  };
}

/** True when all four Fashion-MNIST files exist in `dir`. */
export async function fashionMnistAvailable(dir: string = FASHION_MNIST_DIR): Promise<boolean> {
  const paths = [splitFiles("train", dir), splitFiles("test", dir)].flatMap((
    f,
  ) => [f.images, f.labels]);
  for (const path of paths) {
    try {
      if (!(await Deno.stat(path)).isFile) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Loads one split; throws `DatasetError` naming the file when it is missing or malformed. */
export async function loadFashionMnist(
  split: "train" | "test",
  options: FashionMnistOptions = {},
): Promise<FashionMnist> {
  if (split !== "train" && split !== "test") {
    throw new DatasetError(`Fashion-MNIST split must be "train" or "test", got "${split}"`);
  }
  const limit = options.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new DatasetError(`Fashion-MNIST limit must be a non-negative integer, got ${limit}`);
  }
  const files = splitFiles(split, options.dir ?? FASHION_MNIST_DIR);
  const imageBytes = limit === undefined ? undefined : IMAGES_HEADER_BYTES + limit * PIXELS;
  const labelBytes = limit === undefined ? undefined : LABELS_HEADER_BYTES + limit;
  // One file after the other, so a missing dataset is always reported by its images file.
  const imageFile = await readGunzipped(files.images, imageBytes);
  const labelFile = await readGunzipped(files.labels, labelBytes);
  const images = parseIdx(imageFile, files.images, IMAGES_MAGIC, [SIDE, SIDE], limit);
  const labels = parseIdx(labelFile, files.labels, LABELS_MAGIC, [], limit);
  if (images.count !== labels.count) {
    throw new DatasetError(
      `${files.images} has ${images.count} images but ${files.labels} has ${labels.count} labels`,
    );
  }
  const badLabel = labels.data.findIndex((label) => label >= CLASS_COUNT);
  if (badLabel >= 0) {
    throw new DatasetError(
      `${files.labels}: label ${labels.data[badLabel]} at index ${badLabel} is not in 0..9`,
    );
  }
  return {
    images: images.data,
    labels: labels.data,
    count: images.count,
    height: SIDE,
    width: SIDE,
  };
}

/**
 * Decompresses `path`, stopping once `wantBytes` are available: the first few thousand training
 * images then cost a fraction of inflating all 47 MB.
 */
async function readGunzipped(path: string, wantBytes?: number): Promise<Uint8Array> {
  let compressed: Uint8Array<ArrayBuffer>;
  try {
    compressed = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        `Fashion-MNIST file not found: ${path} (install it with \`apt-get install -y dataset-fashion-mnist\`)`,
      );
    }
    throw new DatasetError(`cannot read Fashion-MNIST file ${path}: ${error}`);
  }
  const reader = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("gzip"))
    .getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (wantBytes === undefined || total < wantBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
    if (wantBytes !== undefined) await reader.cancel();
  } catch (error) {
    throw new DatasetError(`${path} is not a valid gzip file: ${error}`);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * Checks the IDX header (magic 0x0000080D: unsigned bytes, D dimensions, big-endian uint32
 * sizes) and returns the first `limit` items. Without a limit the file must hold exactly the
 * declared items, catching truncated or padded downloads.
 */
function parseIdx(
  bytes: Uint8Array,
  path: string,
  magic: number,
  itemShape: number[],
  limit: number | undefined,
): { data: Uint8Array; count: number } {
  const headerBytes = 4 * (2 + itemShape.length);
  if (bytes.length < headerBytes) {
    throw new DatasetError(
      `${path}: ${bytes.length} bytes is shorter than the ${headerBytes}-byte IDX header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0);
  if (found !== magic) {
    throw new DatasetError(`${path}: IDX magic 0x${hex(found)}, expected 0x${hex(magic)}`);
  }
  const declared = view.getUint32(4);
  itemShape.forEach((size, axis) => {
    const actual = view.getUint32(8 + 4 * axis);
    if (actual !== size) {
      throw new DatasetError(`${path}: dimension ${axis + 1} is ${actual}, expected ${size}`);
    }
  });
  const itemBytes = itemShape.reduce((product, size) => product * size, 1);
  const count = limit === undefined ? declared : Math.min(limit, declared);
  const needed = headerBytes + count * itemBytes;
  if (bytes.length < needed || (limit === undefined && bytes.length !== needed)) {
    throw new DatasetError(
      `${path}: header declares ${declared} items of ${itemBytes} bytes (${
        headerBytes + declared * itemBytes
      } bytes in all), file has ${bytes.length}`,
    );
  }
  return { data: bytes.slice(headerBytes, needed), count };
}

function hex(value: number): string {
  return value.toString(16).padStart(8, "0");
}

/** Image `index` of a split as a view (no copy) of its 784 pixels. */
export function fashionMnistImage(data: FashionMnist, index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= data.count) {
    throw new ShapeError(`Fashion-MNIST image index ${index} is outside 0..${data.count - 1}`);
  }
  return data.images.subarray(index * PIXELS, (index + 1) * PIXELS);
}

/** 28×28 uint8 pixels → 28×28 in [0, 1] (the space the Fréchet features are fitted in). */
export function toUnitRange(image28: Uint8Array): Float32Array {
  checkLength(image28.length, PIXELS, "toUnitRange");
  const out = new Float32Array(PIXELS);
  for (let p = 0; p < PIXELS; p++) out[p] = image28[p] / 255;
  return out;
}

/**
 * 28×28 uint8 pixels → the embedded model's 32×32 training format: pixel/255·2 − 1, padded by 2
 * pixels of −1 (black) on each side, as the model was trained.
 */
export function toModelSpace(image28: Uint8Array): Float32Array {
  checkLength(image28.length, PIXELS, "toModelSpace");
  const out = new Float32Array(MODEL_SIDE * MODEL_SIDE).fill(-1);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      out[(y + MODEL_PAD) * MODEL_SIDE + x + MODEL_PAD] = (image28[y * SIDE + x] / 255) * 2 - 1;
    }
  }
  return out;
}

/**
 * A model sample ([1, 32, 32] in [-1, 1]) → the central 28×28 in [0, 1]. Values are clamped to
 * [-1, 1] first, as when the sample is written to PNG, so metrics see what a viewer sees.
 */
export function fromModelSpace(sample32: Float32Array): Float32Array {
  checkLength(sample32.length, MODEL_SIDE * MODEL_SIDE, "fromModelSpace");
  const out = new Float32Array(PIXELS);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const value = sample32[(y + MODEL_PAD) * MODEL_SIDE + x + MODEL_PAD];
      out[y * SIDE + x] = (Math.min(1, Math.max(-1, value)) + 1) / 2;
    }
  }
  return out;
}

function checkLength(actual: number, expected: number, what: string): void {
  if (actual !== expected) {
    throw new ShapeError(`${what}: expected ${expected} values, got ${actual}`);
  }
}
