/**
 * What the caption-conditioned targets (PixArt, STDiT2) share: calibration data that is a list
 * of prompt embeddings, and a plan bound to the size it was calibrated at.
 */

import { OptionError, PlanError } from "../../src/errors.ts";
import type { PromptEmbedding } from "../../src/io/prompt_embeddings.ts";

/**
 * The number of calibration samples, one per prompt embedding, once there is at least one and
 * `checkPrompts` (the family's own check of the embeddings) has passed.
 */
export function promptCalibrationCount(
  prompts: readonly PromptEmbedding[] | undefined,
  checkPrompts: (prompts: readonly PromptEmbedding[]) => void,
): number {
  if (!prompts || prompts.length < 1) {
    throw new OptionError("calibration needs at least one prompt embedding");
  }
  checkPrompts(prompts);
  return prompts.length;
}

/** The error for sampling a plan at another size than the one it was calibrated `at`. */
export function sizeMismatch(at: string, asked: string): PlanError {
  return new PlanError(
    `plan was calibrated ${at}, sampling asks for ${asked}: calibrate a plan for this size`,
  );
}
