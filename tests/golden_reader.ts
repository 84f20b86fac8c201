/**
 * A minimal safetensors reader for kernel tests (F32 and I64 only), independent of src/io so
 * kernel tests do not depend on the loader they will later validate.
 */

export interface GoldenTensor {
  shape: number[];
  /** Values as f32 (I64 converted through Number). */
  data: Float32Array;
}

/** Reads every F32/I64 tensor of a safetensors file: 8-byte LE header size, JSON, raw data. */
export async function readGolden(path: string): Promise<Map<string, GoldenTensor>> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerSize)));
  const dataStart = 8 + headerSize;
  const tensors = new Map<string, GoldenTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    const raw = bytes.slice(dataStart + begin, dataStart + end).buffer;
    let data: Float32Array;
    if (dtype === "F32") data = new Float32Array(raw);
    else if (dtype === "I64") data = Float32Array.from(new BigInt64Array(raw), Number);
    else throw new Error(`${path}: ${name} has dtype ${dtype}, which this reader does not handle`);
    tensors.set(name, { shape, data });
  }
  return tensors;
}
