/** Launchers for group norm over NCHW tensors: statistics, and the normalise-affine(-SiLU) pass. */

import { ELEMENTWISE_WORKGROUP_SIZE, mapInvocations } from "../../shaders/elementwise.ts";
import {
  chunksPerGroup,
  GROUP_NORM_WORKGROUP,
  groupNormApplyWgsl,
  groupStatsMergeWgsl,
  groupStatsWgsl,
} from "../../shaders/group_norm.ts";
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { flatGrid } from "./grid.ts";
import { planeSlabs, slabBinding } from "./planes.ts";

export interface GroupNormOptions {
  /** Added to the variance (diffusers' VAE uses 1e-6). */
  eps: number;
  /** Apply SiLU after the affine step. */
  silu?: boolean;
  /** "tokens": return channels-last [B, H·W, C] (attention input) instead of NCHW. */
  output?: "nchw" | "tokens";
}

function checkInput(op: string, x: Tensor, groups: number): { channels: number; plane: number } {
  if (x.dtype !== "f32") throw new ShapeError(`${op}: x must be f32, got ${x.dtype}`);
  if (x.shape.length < 2) throw new ShapeError(`${op}: x must be [B, C, ...], got [${x.shape}]`);
  const channels = x.shape[1];
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new ShapeError(
      `${op}: ${groups} groups do not divide the ${channels} channels of [${x.shape}]`,
    );
  }
  return { channels, plane: x.shape.slice(2).reduce((a, d) => a * d, 1) };
}

/**
 * Mean and 1/√(var + eps) of every (sample, group) of x [B, C, ...]: [B, G, 2] f32. Variance is
 * the biased (population) one, as torch's group_norm.
 */
export function groupNormStats(x: Tensor, groups: number, eps: number): Tensor {
  const op = "groupNormStats";
  const { channels, plane } = checkInput(op, x, groups);
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  const batch = x.shape[0];
  const gpu = x.gpu;
  const stats = Tensor.empty(gpu, [batch, groups, 2], "f32", op);
  const perGroup = channels / groups;
  const groupSize = perGroup * plane;
  if (batch === 0 || groupSize === 0) return stats;
  const chunks = chunksPerGroup(groupSize);
  const partials = Tensor.empty(gpu, [batch * groups * chunks, 4], "f32", "group-norm-partials");
  // Slabs hold whole groups, so every chunk's values live in one binding.
  for (const slab of planeSlabs(x.shape, gpu.limits.maxStorageBufferBindingSize, perGroup)) {
    const slabGroups = (slab.sampleCount * slab.channelCount) / perGroup;
    const grid = flatGrid(slabGroups * chunks, GROUP_NORM_WORKGROUP);
    const shape = {
      groupSize,
      groups: slabGroups,
      groupBase: slab.sampleBase * groups + slab.channelBase / perGroup,
    };
    gpu.dispatch({
      name: "group-norm-partials",
      wgsl: groupStatsWgsl(shape, grid.rowInvocations),
      bindings: [slabBinding(x, slab), partials.binding()],
      workgroups: grid.workgroups,
    });
  }
  gpu.dispatch({
    name: "group-norm-merge",
    wgsl: groupStatsMergeWgsl(batch * groups, groupSize, eps),
    bindings: [partials.binding(), stats.binding()],
    workgroups: [Math.ceil((batch * groups) / GROUP_NORM_WORKGROUP)],
  });
  partials.release();
  return stats;
}

/**
 * (x − mean)/σ · γ + β (then SiLU) with statistics from `groupNormStats`. x [B, C, ...], γ and
 * β [C]; returns x's shape, or [B, H·W, C] with `output: "tokens"`.
 */
export function groupNormApply(
  x: Tensor,
  stats: Tensor,
  weight: Tensor,
  bias: Tensor,
  options: { silu?: boolean; output?: "nchw" | "tokens" } = {},
): Tensor {
  const op = "groupNormApply";
  const batch = x.shape[0];
  const groups = stats.shape[1];
  const { channels, plane } = checkInput(op, x, groups);
  const statsOk = stats.dtype === "f32" && stats.shape.length === 3 && stats.shape[0] === batch &&
    stats.shape[2] === 2;
  if (!statsOk) {
    throw new ShapeError(`${op}: stats expected [${batch}, G, 2] f32, got [${stats.shape}]`);
  }
  for (const [what, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t.dtype !== "f32" || t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new ShapeError(`${op}: ${what} expected shape [${channels}] f32, got [${t.shape}]`);
    }
  }
  const output = options.output ?? "nchw";
  const gpu = x.gpu;
  const outShape = output === "nchw" ? x.shape : [batch, plane, channels];
  const out = Tensor.empty(gpu, outShape, "f32", "group-norm");
  if (out.size === 0) return out;
  const slabs = planeSlabs(x.shape, gpu.limits.maxStorageBufferBindingSize);
  if (output === "tokens" && slabs.length > 1) {
    throw new ShapeError(`${op}: a channels-last output of [${x.shape}] must fit one binding`);
  }
  const width = output === "nchw" && plane % 4 === 0 ? 4 : 1;
  for (const slab of slabs) {
    const count = slab.sampleCount * slab.channelCount * plane;
    const grid = flatGrid(mapInvocations(count, width), ELEMENTWISE_WORKGROUP_SIZE);
    const shape = {
      channels,
      slabChannels: slab.channelCount,
      channelBase: slab.channelBase,
      sampleBase: slab.sampleBase,
      samples: slab.sampleCount,
      plane,
      groups,
      silu: options.silu ?? false,
      output,
    };
    gpu.dispatch({
      name: "group-norm-apply",
      wgsl: groupNormApplyWgsl(shape, width, grid.rowInvocations),
      bindings: [
        slabBinding(x, slab),
        stats.binding(),
        weight.binding(),
        bias.binding(),
        output === "nchw" ? slabBinding(out, slab) : out.binding(),
      ],
      workgroups: grid.workgroups,
    });
  }
  return out;
}

/**
 * torch.nn.GroupNorm(groups, C, eps, affine) on x [B, C, ...], optionally followed by SiLU.
 * With `output: "tokens"` the result is channels-last [B, H·W, C].
 */
export function groupNorm(
  x: Tensor,
  groups: number,
  weight: Tensor,
  bias: Tensor,
  options: GroupNormOptions,
): Tensor {
  const stats = groupNormStats(x, groups, options.eps);
  const out = groupNormApply(x, stats, weight, bias, options);
  stats.release();
  return out;
}
