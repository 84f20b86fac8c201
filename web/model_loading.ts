/// <reference lib="dom" />
/**
 * Loading the model folder by fetch (`urlFolder`: range reads, one tensor at a time), optionally
 * through the origin-private-file-system cache, plus the reference run's noise and labels.
 */

import type * as Lib from "../mod.ts";
import type { PageOptions } from "./adapter_panel.ts";

type CacheOptions = NonNullable<Parameters<typeof Lib.cachedFolder>[1]>;
type CacheEvent = Parameters<NonNullable<CacheOptions["onFile"]>>[0];

export interface LoadedModel {
  model: Lib.dit.DiTModel;
  classNames: string[];
  cropBorder: number;
  /** Noise and labels of `sample_ddim20.safetensors` (the float64 DDIM-20 reference run). */
  readReference(images?: number): Promise<{ labels: number[]; noise: number[] }>;
  report: {
    url: string;
    seconds: number;
    /** Files by where they came from ("cache", "stored", "uncached"). */
    cache: Record<string, number>;
  };
}

/** Class names and the crop border from `labels.json` (absent: "class i", no crop). */
async function readLabels(
  folder: Lib.Folder,
): Promise<{ names: string[]; cropBorder: number }> {
  if ((await folder.kind("labels.json")) !== "file") return { names: [], cropBorder: 0 };
  const json = JSON.parse(new TextDecoder().decode(await folder.read("labels.json")));
  return { names: json.names ?? [], cropBorder: json.cropBorder ?? 0 };
}

export async function loadModel(
  lib: typeof Lib,
  gpu: Lib.Gpu,
  options: PageOptions,
  status: (text: string) => void,
): Promise<LoadedModel> {
  const events: CacheEvent[] = [];
  const remote = lib.urlFolder(options.modelUrl);
  const folder = options.cacheInOpfs
    ? lib.cachedFolder(remote, { onFile: (event) => events.push(event) })
    : remote;
  status(`Loading ${options.modelUrl}…`);
  const started = performance.now();
  const model = await lib.dit.DiTModel.load(gpu, folder);
  const seconds = (performance.now() - started) / 1000;
  const { names, cropBorder } = await readLabels(folder);
  const cache: Record<string, number> = {};
  for (const event of events) cache[event.source] = (cache[event.source] ?? 0) + 1;
  const cacheText = options.cacheInOpfs
    ? `; OPFS cache: ${Object.entries(cache).map(([k, n]) => `${n} ${k}`).join(", ") || "none"}`
    : "";
  status(
    `Model loaded from ${options.modelUrl} in ${seconds.toFixed(2)} s ` +
      `(${model.config.numLayers} layers, width ${model.width}, ${model.config.sampleSize} px)${cacheText}.`,
  );
  return {
    model,
    classNames: names,
    cropBorder,
    report: { url: options.modelUrl, seconds, cache },
    async readReference(images) {
      const file = await lib.SafetensorsFile.fromReader(
        await folder.open("sample_ddim20.safetensors"),
      );
      try {
        const labels = Array.from(await file.readInt("labels"));
        const noise = await file.readFloat32("noise");
        const count = Math.min(images ?? labels.length, labels.length);
        const perImage = noise.length / labels.length;
        return {
          labels: labels.slice(0, count),
          noise: Array.from(noise.subarray(0, count * perImage)),
        };
      } finally {
        file.close();
      }
    },
  };
}

export interface CacheCheck {
  /** Whether this browser has the origin private file system. */
  opfs: boolean;
  /** Where the checkpoint came from on this open ("cache" once a load has stored it). */
  source: string;
  bytesCompared: number;
  /** The cached bytes equal the fetched ones at every compared range. */
  equal: boolean;
}

/**
 * Reads the checkpoint through the cache and straight over HTTP at its start, middle and end,
 * and says whether the bytes agree (and where the cached copy came from).
 */
export async function compareCachedReads(
  lib: typeof Lib,
  options: PageOptions,
): Promise<CacheCheck> {
  const name = "diffusion_pytorch_model.safetensors";
  const events: CacheEvent[] = [];
  const cached = await lib.cachedFolder(lib.urlFolder(options.modelUrl), {
    onFile: (event) => events.push(event),
  }).open(name);
  const direct = await lib.urlFolder(options.modelUrl).open(name);
  const size = direct.size;
  let equal = cached.size === size;
  let bytesCompared = 0;
  const length = Math.min(2 ** 20, size);
  for (const offset of [0, Math.floor((size - length) / 2), size - length]) {
    if (!equal) break;
    const [a, b] = await Promise.all([cached.read(offset, length), direct.read(offset, length)]);
    equal = a.length === b.length && a.every((v, i) => v === b[i]);
    bytesCompared += length;
  }
  cached.close();
  direct.close();
  return {
    opfs: typeof navigator.storage?.getDirectory === "function",
    source: events[0]?.source ?? "none",
    bytesCompared,
    equal,
  };
}
