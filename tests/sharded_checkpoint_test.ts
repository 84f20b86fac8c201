import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../src/errors.ts";
import { openCheckpoint, writeSafetensors } from "../deno.ts";
import { errorNaming } from "./asserts.ts";

async function writeShards(dir: string): Promise<string> {
  await writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), {
    "blocks.0.w": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    "labels": { dtype: "I64", shape: [2], data: BigInt64Array.from([3n, 9n]) },
  });
  await writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), {
    "blocks.1.w": { dtype: "BF16", shape: [3], data: new Float32Array([0.5, -1, 2]) },
  });
  const indexPath = join(dir, "diffusion_pytorch_model.safetensors.index.json");
  await Deno.writeTextFile(
    indexPath,
    JSON.stringify({
      metadata: { total_size: 30 },
      weight_map: {
        "blocks.0.w": "model-00001-of-00002.safetensors",
        "labels": "model-00001-of-00002.safetensors",
        "blocks.1.w": "model-00002-of-00002.safetensors",
      },
    }),
  );
  return indexPath;
}

const messageNames = (...fragments: string[]) => errorNaming(CheckpointError, ...fragments);

Deno.test("a sharded index reads like one file, by path or by folder", async () => {
  const dir = await Deno.makeTempDir();
  const indexPath = await writeShards(dir);
  for (const target of [indexPath, dir]) {
    const checkpoint = await openCheckpoint(target);
    strictEqual(checkpoint.path, indexPath);
    strictEqual(checkpoint.shards.length, 2);
    deepStrictEqual(checkpoint.names(), ["blocks.0.w", "blocks.1.w", "labels"]);
    deepStrictEqual(checkpoint.info("blocks.1.w"), { dtype: "BF16", shape: [3], byteLength: 6 });
    deepStrictEqual([...await checkpoint.readFloat32("blocks.0.w")], [1, 2, 3, 4]);
    deepStrictEqual([...await checkpoint.readFloat32("blocks.1.w")], [0.5, -1, 2]);
    deepStrictEqual([...await checkpoint.readFloat16("blocks.1.w")], [0.5, -1, 2]);
    deepStrictEqual([...await checkpoint.readInt("labels")], [3, 9]);
    ok(!checkpoint.has("blocks.2.w"));
    await rejects(
      async () => await checkpoint.readFloat32("blocks.2.w"),
      messageNames(indexPath, '"blocks.2.w"'),
    );
    checkpoint.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a single file or a folder holding one opens as a checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "diffusion_pytorch_model.safetensors");
  await writeSafetensors(path, { w: { dtype: "F16", shape: [1], data: new Float32Array([2]) } });
  for (const target of [path, dir]) {
    const checkpoint = await openCheckpoint(target);
    deepStrictEqual(checkpoint.names(), ["w"]);
    deepStrictEqual([...await checkpoint.readFloat32("w")], [2]);
    checkpoint.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("index errors name the index, the shard and the tensor", async () => {
  const dir = await Deno.makeTempDir();
  const indexPath = await writeShards(dir);
  const index = JSON.parse(await Deno.readTextFile(indexPath));

  index.weight_map["blocks.9.w"] = "model-00009-of-00002.safetensors";
  await Deno.writeTextFile(indexPath, JSON.stringify(index));
  await rejects(
    openCheckpoint(indexPath),
    messageNames(indexPath, "model-00009-of-00002.safetensors", '"blocks.9.w"', "missing"),
  );

  index.weight_map["blocks.9.w"] = "model-00002-of-00002.safetensors";
  await Deno.writeTextFile(indexPath, JSON.stringify(index));
  await rejects(
    openCheckpoint(indexPath),
    messageNames(indexPath, "model-00002-of-00002.safetensors", '"blocks.9.w"', "absent"),
  );

  await Deno.writeTextFile(indexPath, JSON.stringify({ metadata: {} }));
  await rejects(openCheckpoint(indexPath), messageNames(indexPath, "weight_map"));

  const empty = await Deno.makeTempDir();
  await rejects(openCheckpoint(empty), messageNames(empty, "no *.safetensors"));
  await rejects(openCheckpoint(join(empty, "nope")), messageNames("nope"));
  await Deno.remove(empty);
  await Deno.remove(dir, { recursive: true });
});
