/** Multiply-accumulates of a DiT forward pass outside self-attention, per sample. */

import type { CostShape } from "../../src/compression/plan.ts";
import type { PlanFit } from "../../src/compression/plan_file.ts";
import { configHash, type DiTConfig, hiddenSize } from "./config.ts";
import type { DiTModel } from "./model.ts";

/** Cost shape of a DiT at `tokens` tokens, for `planCost`. */
export function ditCostShape(config: DiTConfig, tokens: number): CostShape {
  const c = hiddenSize(config);
  const p = config.patchSize;
  const perLayer = 8 * tokens * c * c + // MLP c → 4c → c
    6 * c * c + // adaLN modulation
    256 * c + c * c; // timestep MLP
  const patchEmbed = tokens * c * config.inChannels * p * p;
  const finalLayer = 2 * c * c + tokens * c * p * p * config.outChannels;
  return {
    tokens,
    width: c,
    otherMacsPerStep: config.numLayers * perLayer + patchEmbed + finalLayer,
  };
}

/** What a DiT plan is bound to (the model at its trained sample size). */
export function ditPlanFit(model: DiTModel): PlanFit {
  const tokens = model.tokens();
  return {
    family: model.family,
    configHash: configHash(model.config),
    layers: model.layers,
    tokens,
    costShape: ditCostShape(model.config, tokens),
  };
}
