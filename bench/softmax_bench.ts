/** Softmax bandwidth at attention-score shapes of DiT-XL (batch 2, 16 heads) and width-1152 rows. */

import { softmax } from "../src/ops/softmax.ts";
import { Tensor } from "../src/tensor.ts";
import type { RowVariant } from "../shaders/rows.ts";
import { type BandwidthCase, benchBandwidth } from "./bandwidth.ts";
import { getGpu } from "../deno.ts";

const gpu = await getGpu();
const cases: BandwidthCase[] = [];

for (const [rows, length] of [[2 * 256, 1152], [2 * 1024, 1152], [2 * 16 * 256, 256]]) {
  const x = Tensor.fromArray(
    gpu,
    new Float32Array(rows * length).map(() => 8 * Math.random()),
    [rows, length],
  );
  for (const variant of ["invocation", "workgroup"] as RowVariant[]) {
    cases.push({
      name: `softmax ${variant} [${rows}, ${length}]`,
      bytes: 2 * rows * length * 4,
      launch: () => softmax(x, variant),
    });
  }
}

await benchBandwidth(gpu, "softmax", cases);
