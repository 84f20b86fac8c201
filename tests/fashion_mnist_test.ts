import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { ShapeError } from "../src/errors.ts";
import {
  DatasetError,
  FASHION_MNIST_DIR,
  fashionMnistAvailable,
  fashionMnistImage,
  fromModelSpace,
  loadFashionMnist,
  toModelSpace,
  toUnitRange,
} from "../eval/fashion_mnist.ts";
import { assertThrows } from "./asserts.ts";

const available = await fashionMnistAvailable();

function idxBytes(magic: number, dims: number[], payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic);
  dims.forEach((size, axis) => view.setUint32(4 + 4 * axis, size));
  bytes.set(payload, 4 + 4 * dims.length);
  return bytes;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `count` images whose pixel (y, x) of image i is (i·31 + y·7 + x) mod 256, labels i mod 10. */
function syntheticSplit(count: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < 784; p++) {
      images[i * 784 + p] = (i * 31 + Math.floor(p / 28) * 7 + (p % 28)) % 256;
    }
  }
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10) };
}

interface Overrides {
  imageMagic?: number;
  imageCount?: number;
  labelCount?: number;
  truncateImages?: number;
  labels?: Uint8Array;
}

/** Writes all four gzipped IDX files of a 5-image dataset into a fresh directory. */
async function writeDataset(overrides: Overrides = {}): Promise<{ dir: string; count: number }> {
  const dir = await Deno.makeTempDir({ prefix: "fmnist_test_" });
  const count = 5;
  const { images, labels } = syntheticSplit(count);
  const imageFile = idxBytes(
    overrides.imageMagic ?? 0x803,
    [overrides.imageCount ?? count, 28, 28],
    images,
  );
  const labelFile = idxBytes(0x801, [overrides.labelCount ?? count], overrides.labels ?? labels);
  const imageData = imageFile.subarray(0, imageFile.length - (overrides.truncateImages ?? 0));
  for (const prefix of ["train", "t10k"]) {
    await Deno.writeFile(join(dir, `${prefix}-images-idx3-ubyte.gz`), await gzip(imageData));
    await Deno.writeFile(join(dir, `${prefix}-labels-idx1-ubyte.gz`), await gzip(labelFile));
  }
  return { dir, count };
}

Deno.test("reads a synthetic gzipped IDX dataset exactly, with and without a limit", async () => {
  const { dir, count } = await writeDataset();
  ok(await fashionMnistAvailable(dir));
  const expected = syntheticSplit(count);
  for (const split of ["train", "test"] as const) {
    const data = await loadFashionMnist(split, { dir });
    strictEqual(data.count, count);
    strictEqual(data.height, 28);
    strictEqual(data.width, 28);
    deepStrictEqual(data.images, expected.images);
    deepStrictEqual(data.labels, expected.labels);
  }
  const limited = await loadFashionMnist("test", { dir, limit: 2 });
  strictEqual(limited.count, 2);
  deepStrictEqual(limited.images, expected.images.subarray(0, 2 * 784));
  deepStrictEqual(fashionMnistImage(limited, 1), expected.images.subarray(784, 2 * 784));
  strictEqual((await loadFashionMnist("test", { dir, limit: 50 })).count, count);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("malformed files raise DatasetError naming the file", async () => {
  const cases: [Overrides, string][] = [
    [{ imageMagic: 0x801 }, "IDX magic 0x00000801, expected 0x00000803"],
    [{ truncateImages: 10 }, "file has"],
    [{ imageCount: 4 }, "file has"],
    [{ labelCount: 4 }, "file has"],
    [{ labels: Uint8Array.of(0, 1, 12, 3, 4) }, "label 12 at index 2"],
  ];
  for (const [overrides, fragment] of cases) {
    const { dir } = await writeDataset(overrides);
    await rejects(loadFashionMnist("train", { dir }), (error: Error) => {
      ok(error instanceof DatasetError, `${error}`);
      ok(error.message.includes(fragment), error.message);
      ok(error.message.includes(dir), error.message);
      return true;
    });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("missing files raise DatasetError with the install command", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fmnist_missing_" });
  strictEqual(await fashionMnistAvailable(dir), false);
  await rejects(loadFashionMnist("test", { dir }), (error: Error) => {
    ok(error instanceof DatasetError);
    ok(error.message.includes(join(dir, "t10k-images-idx3-ubyte.gz")), error.message);
    ok(error.message.includes("apt-get install -y dataset-fashion-mnist"), error.message);
    return true;
  });
  await Deno.writeFile(join(dir, "t10k-images-idx3-ubyte.gz"), Uint8Array.of(1, 2, 3));
  await Deno.writeFile(
    join(dir, "t10k-labels-idx1-ubyte.gz"),
    await gzip(idxBytes(0x801, [0], new Uint8Array())),
  );
  await rejects(loadFashionMnist("test", { dir }), DatasetError, "not a valid gzip file");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("toModelSpace pads to 32×32 with −1 and maps 0..255 to [−1, 1]; fromModelSpace inverts", () => {
  const image = Uint8Array.from({ length: 784 }, (_, p) => (p * 13) % 256);
  image[0] = 255;
  image[783] = 0;
  const model = toModelSpace(image);
  strictEqual(model.length, 1024);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const border = y < 2 || y >= 30 || x < 2 || x >= 30;
      const expected = border ? -1 : (image[(y - 2) * 28 + x - 2] / 255) * 2 - 1;
      ok(Math.abs(model[y * 32 + x] - expected) < 1e-6, `(${y}, ${x})`);
    }
  }
  strictEqual(model[2 * 32 + 2], 1);
  strictEqual(model[29 * 32 + 29], -1);
  const back = fromModelSpace(model);
  const unit = toUnitRange(image);
  for (let p = 0; p < 784; p++) ok(Math.abs(back[p] - unit[p]) < 1e-6, `pixel ${p}`);
  const overshoot = new Float32Array(1024).fill(1.5);
  ok(fromModelSpace(overshoot).every((value) => value === 1), "clamped like a PNG");
  assertThrows(() => toModelSpace(new Uint8Array(1024)), ShapeError, "expected 784");
  assertThrows(() => fromModelSpace(new Float32Array(784)), ShapeError, "expected 1024");
});

Deno.test({
  name: "reads the installed Fashion-MNIST: 60000 train and 10000 balanced test examples",
  ignore: !available,
  async fn() {
    const test = await loadFashionMnist("test");
    strictEqual(test.count, 10000);
    strictEqual(test.images.length, 10000 * 784);
    const perClass = new Array(10).fill(0);
    for (const label of test.labels) perClass[label]++;
    deepStrictEqual(perClass, new Array(10).fill(1000));
    const train = await loadFashionMnist("train", { dir: FASHION_MNIST_DIR });
    strictEqual(train.count, 60000);
    const head = await loadFashionMnist("train", { limit: 100 });
    strictEqual(head.count, 100);
    deepStrictEqual(head.images, train.images.subarray(0, 100 * 784));
    deepStrictEqual(head.labels, train.labels.subarray(0, 100));
    // Images are dark-background garments: the border is mostly black, the centre is not.
    const first = fashionMnistImage(train, 0);
    ok(first.some((pixel) => pixel > 128));
  },
});
