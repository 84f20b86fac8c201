/**
 * Rewriting a model folder's safetensors for tests and fixtures: every tensor read as f32, and
 * a copy of a folder with its config and tensors edited (to make bad or converted inputs).
 */

import { join } from "node:path";
import type { TensorSource } from "../src/io/safetensors.ts";
import type { TensorToWrite, WritableDtype } from "../src/io/safetensors_writer.ts";
import { openSafetensors, writeBytes, writeSafetensors } from "../deno.ts";

/** A tensor to write whose values are already in memory as f32. */
export type Float32TensorToWrite = TensorToWrite & { data: Float32Array };

/** Every tensor of `source` read as f32, to be written as `dtype` (default F32). */
export async function float32Tensors(
  source: TensorSource,
  dtype: WritableDtype = "F32",
): Promise<Record<string, Float32TensorToWrite>> {
  const tensors: Record<string, Float32TensorToWrite> = {};
  for (const name of source.names()) {
    tensors[name] = { dtype, shape: source.info(name).shape, data: await source.readFloat32(name) };
  }
  return tensors;
}

/**
 * How to edit a model copy: its parsed config.json and its tensors, in place (a test that reads
 * the f32 values asks for `ModelEdit<Float32TensorToWrite>`).
 */
export interface ModelEdit<Tensors extends TensorToWrite = TensorToWrite> {
  config?: (c: Record<string, unknown>) => void;
  tensors?: (t: Record<string, Tensors>) => void;
}

/**
 * A copy, in a new temporary folder, of a diffusers model folder (`config.json` +
 * `diffusion_pytorch_model.safetensors`) with an edited config and tensors.
 */
export async function editedModelCopy(
  folder: string,
  edit: ModelEdit | ModelEdit<Float32TensorToWrite>,
  tempPrefix?: string,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: tempPrefix });
  const config = JSON.parse(await Deno.readTextFile(join(folder, "config.json")));
  edit.config?.(config);
  await writeBytes(join(dir, "config.json"), JSON.stringify(config));
  const source = await openSafetensors(join(folder, "diffusion_pytorch_model.safetensors"));
  const tensors = await float32Tensors(source);
  source.close();
  edit.tensors?.(tensors);
  await writeSafetensors(join(dir, "diffusion_pytorch_model.safetensors"), tensors);
  return dir;
}
