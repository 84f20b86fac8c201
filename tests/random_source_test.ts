/** The random weight sources of the scale benchmarks: shapes, determinism and spread. */

import assert from "node:assert/strict";
import { CheckpointError } from "../src/errors.ts";
import { RandomTensorSource } from "../testing/random_source.ts";
import { expectedPixArtShapes } from "../models/pixart/weights.ts";
import { PIXART_SIGMA_1024, randomPixArtSource } from "../testing/random_pixart.ts";

const shapes = new Map([["a.weight", [64, 32]], ["b.bias", [7]]]);

Deno.test("random source: shapes, seeded values independent of read order", async () => {
  const first = new RandomTensorSource("random", shapes, 3);
  const second = new RandomTensorSource("random", shapes, 3);
  assert.deepEqual(first.names(), ["a.weight", "b.bias"]);
  assert.deepEqual(first.info("a.weight"), { dtype: "F32", shape: [64, 32], byteLength: 8192 });
  const bFirst = await first.readFloat32("b.bias");
  const a = await first.readFloat32("a.weight");
  assert.deepEqual(await second.readFloat32("a.weight"), a);
  assert.deepEqual(await second.readFloat32("b.bias"), bFirst);
  const other = await new RandomTensorSource("random", shapes, 4).readFloat32("a.weight");
  assert.notDeepEqual(other, a);
  // N(0, 0.02²): 2048 draws give a standard deviation within 10% of 0.02.
  const std = Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
  assert.ok(Math.abs(std / 0.02 - 1) < 0.1, `std ${std}`);
});

Deno.test("random source: unknown names are a CheckpointError naming the tensor", () => {
  const source = new RandomTensorSource("random test", shapes);
  assert.equal(source.has("c"), false);
  assert.throws(
    () => source.info("c"),
    (e) => e instanceof CheckpointError && /"c"/.test(e.message),
  );
});

Deno.test("random PixArt source covers every expected tensor", () => {
  const source = randomPixArtSource(PIXART_SIGMA_1024, 1);
  const expected = expectedPixArtShapes(PIXART_SIGMA_1024);
  assert.deepEqual(source.names(), [...expected.keys()].sort());
  for (const [name, shape] of expected) assert.deepEqual(source.info(name).shape, shape);
});
