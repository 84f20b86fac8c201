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

/** The stages a model runs in order for one whole forward pass. */
export interface Stages<Pass extends StagedPass> {
  readonly layers: number;
  block(pass: Pass, layer: number, h: Tensor, attention?: AttentionRuntime): Tensor;
  end(pass: Pass, h: Tensor): Tensor;
}

/** A whole forward pass from its first stage: every block in turn, then the last stage. */
export function runStages<Pass extends StagedPass>(
  model: Stages<Pass>,
  pass: Pass,
  attention?: AttentionRuntime,
): Tensor {
  try {
    let h = pass.hidden.reshape(pass.hidden.shape);
    for (let l = 0; l < model.layers; l++) {
      const next = model.block(pass, l, h, attention);
      h.release();
      h = next;
    }
    const out = model.end(pass, h);
    h.release();
    return out;
  } finally {
    pass.release();
  }
}
