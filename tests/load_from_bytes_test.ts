/**
 * The byte-level API without any file access from the library: the embedded model's safetensors
 * read into one ArrayBuffer, built with `dit.DiTModel.fromSources`, and through `memoryFolder`
 * (the same path a page uses with `urlFolder`), must reproduce the float64 DDIM-20 reference.
 * Also: the browser bundle of mod.ts carries no `Deno` and no `node:` reference.
 */

import { dit, memoryFolder, SafetensorsFile } from "../mod.ts";
import { assertRelativeError, testGpu } from "./helpers.ts";

const ASSET = new URL("../assets/tiny-fmnist/", import.meta.url);
/** docs/DESIGN.md §3's test tolerance for a whole sampling run (relative, over all images). */
const TOLERANCE = 1e-3;

async function reference() {
  const bytes = await Deno.readFile(new URL("sample_ddim20.safetensors", ASSET));
  const ref = await SafetensorsFile.fromBytes(bytes.buffer, "sample_ddim20.safetensors");
  return {
    labels: Array.from(await ref.readInt("labels")),
    noise: await ref.readFloat32("noise"),
    images: await ref.readFloat32("images"),
  };
}

Deno.test("tiny-fmnist from an ArrayBuffer with dit.DiTModel.fromSources matches the float64 golden", async () => {
  const gpu = await testGpu();
  const weights = await Deno.readFile(new URL("diffusion_pytorch_model.safetensors", ASSET));
  const buffer: ArrayBuffer = weights.buffer.slice(0);
  const config = JSON.parse(await Deno.readTextFile(new URL("config.json", ASSET)));
  const source = await SafetensorsFile.fromBytes(buffer, "tiny-fmnist (bytes)");
  const model = await dit.DiTModel.fromSources(gpu, config, source);
  source.close();
  const { labels, noise, images } = await reference();
  const result = await dit.sampleDiT(model, { labels, noise, steps: 20, cfgScale: 4 });
  assertRelativeError(result.samples, images, TOLERANCE, "tiny-fmnist from bytes, DDIM-20");
  model.release();
});

Deno.test("tiny-fmnist through memoryFolder (the urlFolder path) loads the same weights", async () => {
  const gpu = await testGpu();
  const files: Record<string, Uint8Array> = {};
  for (const name of ["config.json", "diffusion_pytorch_model.safetensors"]) {
    files[name] = await Deno.readFile(new URL(name, ASSET));
  }
  const model = await dit.DiTModel.load(gpu, memoryFolder(files, "memory/tiny-fmnist"));
  const { labels, noise, images } = await reference();
  const n = 1;
  const perImage = noise.length / labels.length;
  const result = await dit.sampleDiT(model, {
    labels: labels.slice(0, n),
    noise: noise.subarray(0, n * perImage),
    steps: 20,
    cfgScale: 4,
  });
  assertRelativeError(
    result.samples,
    images.subarray(0, n * perImage),
    TOLERANCE,
    "tiny-fmnist via memoryFolder, first image",
  );
  model.release();
});

Deno.test("the browser bundle of mod.ts references neither Deno nor node:", async () => {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  const root = new URL("../", import.meta.url).pathname;
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "-o", out, "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!bundle.success) {
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(bundle.stderr)}`);
  }
  const code = await Deno.readTextFile(out);
  await Deno.remove(out);
  if (code.length < 100_000) throw new Error(`bundle is only ${code.length} bytes`);
  for (const needle of [/\bDeno\./, /["']node:/]) {
    const match = needle.exec(code);
    if (match) {
      const at = code.slice(Math.max(0, match.index - 80), match.index + 40);
      throw new Error(`bundle references ${needle}: …${at}…`);
    }
  }
});
