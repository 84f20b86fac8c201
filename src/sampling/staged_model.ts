/** A model whose forward pass can be run block by block (what calibration needs). */

import type { AttentionRuntime } from "../compression/attention_runtime.ts";
import type { Conditioning, Denoiser } from "./sample_loop.ts";
import type { Tensor } from "../tensor.ts";

/** State of one forward pass between its stages. */
export interface StagedPass {
  /** Hidden states entering block 0. */
  readonly hidden: Tensor;
  release(): void;
}

export interface StagedDenoiser<C extends Conditioning = Tensor> extends Denoiser<C> {
  begin(x: Tensor, timestep: number, conditioning: C): StagedPass;
  block(pass: StagedPass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor;
  end(pass: StagedPass, h: Tensor): Tensor;
}
