/** A model whose forward pass can be run block by block (what calibration needs). */

import type { AttentionRuntime } from "../src/compression/attention_runtime.ts";
import type { Denoiser } from "../src/sampling/sample_loop.ts";
import type { Tensor } from "../src/tensor.ts";

/** State of one forward pass between its stages. */
export interface StagedPass {
  /** Hidden states entering block 0. */
  readonly hidden: Tensor;
  release(): void;
}

export interface StagedDenoiser extends Denoiser {
  begin(x: Tensor, timestep: number, conditioning: Tensor): StagedPass;
  block(pass: StagedPass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor;
  end(pass: StagedPass, h: Tensor): Tensor;
}
