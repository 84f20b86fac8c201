/**
 * A minimal safetensors reader for the attention goldens (8-byte little-endian header length,
 * JSON header, raw little-endian data), standing in until the library's reader exists.
 */

export interface GoldenTensor {
  shape: number[];
  data: Float32Array;
}

/** Every F32 tensor of a safetensors file, by name. */
export async function readGoldenF32(path: string): Promise<Map<string, GoldenTensor>> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, GoldenTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    if (dtype !== "F32") continue;
    const data = new Float32Array((end - begin) / 4);
    for (let i = 0; i < data.length; i++) {
      data[i] = view.getFloat32(dataStart + begin + 4 * i, true);
    }
    tensors.set(name, { shape, data });
  }
  return tensors;
}
