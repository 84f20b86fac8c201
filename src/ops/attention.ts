/**
 * Attention launchers over the packed qkv tensor [B, N, 3·H·D] (row n: q, then k at H·D, then v
 * at 2·H·D, as the fused q/k/v projection writes it). Outputs are [B, N, H·D], ready for the
 * out-projection. Scale 1/√D, except for `biasedAttention` (T5: scale 1, additive score bias).
 *
 * Two kernel families run every launch: "direct" (shaped for CPU adapters: each invocation
 * holds many queries in registers and reads k/v rows from the buffers, shaders/attention.ts)
 * and "flash" (GPU-shaped: k/v tiles staged in workgroup memory, shaders/attention_flash.ts).
 * Which one a launch uses is measured per adapter and shape class (src/gpu/kernel_choice.ts).
 */

import {
  attentionGroupCount,
  type AttentionKernelSpec,
  type AttentionProblem,
  type AttentionTiling,
  type AttentionVariant,
  attentionWgsl,
  type OperandLayout,
} from "../../shaders/attention.ts";
import {
  defaultFlashTiling,
  flashAttentionWgsl,
  type FlashTiling,
} from "../../shaders/attention_flash.ts";
import { OptionError, ShapeError } from "../errors.ts";
import type { Gpu } from "../gpu/context.ts";
import { type KernelTrial, sizeBucket } from "../gpu/kernel_choice.ts";
import { Tensor } from "../tensor.ts";

export type { AttentionTiling } from "../../shaders/attention.ts";

const MAX_GROUPS_PER_DIMENSION = 65535;

/**
 * The default work split, from measurements on lavapipe (bench/attention_report.ts). Every
 * k/v row an invocation loads serves its `queriesPerInvocation` queries, and loads are the
 * expensive part there, so that count is as large as the per-lane state allows before spills
 * slow the kernel: q and accumulators take 2·R·D floats per lane, best near R·D ≈ 1152
 * (R = 16 at D = 72, 32 at D ≤ 32). The window kernel also visits up to R − 1 keys per
 * invocation outside each query's band, so there R stays near w/4 or less.
 */
export function defaultAttentionTiling(headDim: number, window?: number): AttentionTiling {
  const floorPow2 = (x: number) => 2 ** Math.floor(Math.log2(Math.max(x, 1)));
  let queries = Math.min(32, Math.max(4, floorPow2(1152 / headDim)));
  if (window !== undefined) queries = Math.min(queries, Math.max(4, floorPow2(window / 4)));
  return {
    workgroupSize: 8,
    queriesPerInvocation: queries,
    keyTile: Math.min(32, Math.max(8, queries)),
  };
}

const tilingByGpu = new WeakMap<Gpu, AttentionTiling>();

/** Overrides the tiling of every attention kernel on `gpu` (autotuning, benchmarks, tests). */
export function setAttentionTiling(gpu: Gpu, tiling: AttentionTiling | null): void {
  if (tiling === null) {
    tilingByGpu.delete(gpu);
    return;
  }
  const { workgroupSize, queriesPerInvocation, keyTile } = tiling;
  const fields = { workgroupSize, queriesPerInvocation, keyTile };
  for (const [name, value] of Object.entries(fields)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new OptionError(`attention tiling: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (workgroupSize > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new OptionError(
      `attention tiling: workgroupSize ${workgroupSize} exceeds the device limit of ` +
        `${gpu.limits.maxComputeInvocationsPerWorkgroup}`,
    );
  }
  tilingByGpu.set(gpu, fields);
}

/** The tiling a kernel of `variant` uses on `gpu`: the override, else the default. */
export function attentionTiling(
  gpu: Gpu,
  variant: AttentionVariant,
  headDim: number,
  window: number,
): AttentionTiling {
  const chosen = tilingByGpu.get(gpu);
  if (chosen) return { ...chosen };
  return defaultAttentionTiling(headDim, variant === "window" ? window : undefined);
}

/** Σ over queries i of the keys j in 0..N−1 with |i − j| ≤ w (the band's (query, key) pairs). */
export function windowKeyCount(tokens: number, window: number): number {
  const n = tokens;
  const w = Math.min(window, Math.max(n - 1, 0));
  // Each query sees 2w + 1 keys minus those cut off at either end: the first and last w queries
  // lose w, w − 1, …, 1 keys.
  return n * (2 * w + 1) - w * (w + 1);
}

/**
 * Attention-core MACs per batch element (QKᵀ and AV): 2·N·N·C for full attention, or
 * 2·windowKeyCount(N, w)·C when `window` is given. C = H·D.
 */
export function attentionMacs(tokens: number, channels: number, window?: number): number {
  const pairs = window === undefined ? tokens * tokens : windowKeyCount(tokens, window);
  return 2 * pairs * channels;
}

interface QkvShape {
  batch: number;
  tokens: number;
  heads: number;
  headDim: number;
}

function qkvShape(op: string, qkv: Tensor, heads: number): QkvShape {
  if (qkv.dtype !== "f32") throw new ShapeError(`${op}: f32 qkv expected, got ${qkv.dtype}`);
  if (qkv.shape.length !== 3) {
    throw new ShapeError(`${op}: qkv must be [B, N, 3·H·D], got [${qkv.shape}]`);
  }
  const [batch, tokens, packed] = qkv.shape;
  if (!Number.isInteger(heads) || heads < 1 || packed % (3 * heads) !== 0 || packed === 0) {
    throw new ShapeError(
      `${op}: qkv [${qkv.shape}] last dim ${packed} is not divisible by 3·heads = 3·${heads}`,
    );
  }
  return { batch, tokens, heads, headDim: packed / (3 * heads) };
}

function checkWindow(op: string, window: number): void {
  if (!Number.isInteger(window) || window < 0) {
    throw new ShapeError(`${op}: window must be a non-negative integer, got ${window}`);
  }
}

/** Throws unless `keyMask` is f32 [batch, keys]; `keysFrom` names the tensor the keys come from. */
function checkKeyMask(
  op: string,
  keyMask: Tensor,
  batch: number,
  keys: number,
  keysFrom: string,
): void {
  const ok = keyMask.dtype === "f32" && keyMask.shape.length === 2 &&
    keyMask.shape[0] === batch && keyMask.shape[1] === keys;
  if (!ok) {
    throw new ShapeError(
      `${op}: key mask must be f32 [${batch}, ${keys}] for ${keysFrom}, got ` +
        `${keyMask.dtype} [${keyMask.shape}]`,
    );
  }
}

/** Largest of 4, 2, 1 dividing every stride, offset and the head dim (element loads → vecN). */
function vectorWidth(headDim: number, layouts: readonly OperandLayout[]): 1 | 2 | 4 {
  const fits = (w: number) =>
    headDim % w === 0 && layouts.every((l) => l.rowStride % w === 0 && l.columnOffset % w === 0);
  return fits(4) ? 4 : fits(2) ? 2 : 1;
}

/** One attention launch: operand tensors with their layouts, and the kernel's extras. */
interface Launch extends AttentionProblem, LaunchExtras {
  op: string;
  q: { tensor: Tensor; layout: OperandLayout };
  k: { tensor: Tensor; layout: OperandLayout };
  v: { tensor: Tensor; layout: OperandLayout };
  outputs: readonly Tensor[];
  window: number;
  residualIn?: Tensor | null;
}

/** The extras of a `full` launch (T5 and cross-attention). */
interface LaunchExtras {
  keyMask?: Tensor | null;
  maskedKeyBias?: number;
  scoreBias?: Tensor | null;
  scale?: number;
}

/** The attention kernel families (see the module comment). */
export type AttentionKernel = "direct" | "flash";

/** The flash kernel's work split on `gpu` for head dim `headDim` (null: it cannot run). */
function flashTiling(gpu: Gpu, headDim: number): FlashTiling | null {
  return defaultFlashTiling(
    headDim,
    gpu.limits.maxComputeWorkgroupStorageSize,
    gpu.limits.maxComputeInvocationsPerWorkgroup,
    defaultAttentionTiling(headDim).keyTile,
  );
}

/** The family for this launch: measured per shape class (see src/gpu/kernel_choice.ts). */
function chooseKernel(gpu: Gpu, job: Launch): AttentionKernel {
  const order: AttentionKernel[] = gpu.cpuKernels ? ["direct", "flash"] : ["flash", "direct"];
  const flashFits = flashTiling(gpu, job.headDim) !== null;
  const candidates = order.filter((k) => k === "direct" || flashFits);
  const extras = [
    job.residualIn ? "residual" : "",
    job.keyMask ? "mask" : "",
    job.scoreBias ? "bias" : "",
  ].filter((e) => e !== "").join("+");
  const band = job.variant === "full" ? "" : ` w${sizeBucket(Math.min(job.window, job.keys))}`;
  return gpu.kernels.choose({
    family: "attention",
    shapeClass: `${job.variant} d${job.headDim} q${sizeBucket(job.queries)} ` +
      `k${sizeBucket(job.keys)} bh${sizeBucket(job.batch * job.heads)}${band}` +
      (extras ? ` ${extras}` : ""),
    candidates,
    trial: () => attentionTrial(job),
  });
}

/** Zero operands shaped like the launch's (shared tensors stay shared), fresh outputs. */
function attentionTrial(job: Launch): KernelTrial<AttentionKernel> {
  const gpu = job.q.tensor.gpu;
  const copies = new Map<Tensor, Tensor>();
  const zeros = (t: Tensor): Tensor => {
    let copy = copies.get(t);
    if (!copy) {
      copy = Tensor.fromArray(gpu, new Float32Array(t.size), t.shape, "f32", "attention-trial");
      copies.set(t, copy);
    }
    return copy;
  };
  const outputs = job.outputs.map((t) => Tensor.empty(gpu, t.shape, "f32", "attention-trial"));
  const trialJob: Launch = {
    ...job,
    q: { ...job.q, tensor: zeros(job.q.tensor) },
    k: { ...job.k, tensor: zeros(job.k.tensor) },
    v: { ...job.v, tensor: zeros(job.v.tensor) },
    outputs,
    residualIn: job.residualIn ? zeros(job.residualIn) : null,
    keyMask: job.keyMask ? zeros(job.keyMask) : null,
    scoreBias: job.scoreBias ? zeros(job.scoreBias) : null,
  };
  return {
    launch: (kernel) => record(trialJob, kernel),
    dispose: () => {
      for (const t of [...copies.values(), ...outputs]) t.release();
    },
  };
}

function launch(job: Launch): void {
  record(job, chooseKernel(job.q.tensor.gpu, job));
}

function record(job: Launch, kernel: AttentionKernel): void {
  const gpu = job.q.tensor.gpu;
  const out = { rowStride: job.heads * job.headDim, columnOffset: 0 };
  // Bands wider than the sequence are the same band: one pipeline for all of them.
  const band = Math.min(job.window, job.keys - 1);
  const tiling = attentionTiling(gpu, job.variant, job.headDim, band);
  const flash = kernel === "flash" ? flashTiling(gpu, job.headDim) : null;
  if (kernel === "flash" && !flash) {
    throw new ShapeError(`${job.op}: head dim ${job.headDim} is too wide for the flash kernel`);
  }
  const counts = { batch: job.batch, heads: job.heads, queries: job.queries };
  // The flash split has the direct one's fields: one workgroup per block of queries either way.
  const groups = attentionGroupCount({ ...counts, tiling: flash ?? tiling });
  const groupsX = Math.min(groups, MAX_GROUPS_PER_DIMENSION);
  const layouts = [job.q.layout, job.k.layout, job.v.layout, out];
  const spec: AttentionKernelSpec = {
    variant: job.variant,
    batch: job.batch,
    heads: job.heads,
    headDim: job.headDim,
    queries: job.queries,
    keys: job.keys,
    q: job.q.layout,
    k: job.k.layout,
    v: job.v.layout,
    out,
    window: Math.max(band, 0),
    addResidual: !!job.residualIn,
    keyMask: !!job.keyMask,
    maskedKeyBias: job.maskedKeyBias,
    scoreBias: !!job.scoreBias,
    scale: job.scale,
    tiling,
    vectorWidth: vectorWidth(job.headDim, layouts),
    groupsX,
  };
  const bindings = [
    job.q.tensor.binding(),
    job.k.tensor.binding(),
    job.v.tensor.binding(),
    ...job.outputs.map((t) => t.binding()),
  ];
  if (job.residualIn) bindings.push(job.residualIn.binding());
  if (job.keyMask) bindings.push(job.keyMask.binding());
  if (job.scoreBias) bindings.push(job.scoreBias.binding());
  gpu.dispatch({
    name: flash ? `${job.op}-flash` : job.op,
    wgsl: flash ? flashAttentionWgsl(spec, flash) : attentionWgsl(spec),
    bindings,
    workgroups: [groupsX, Math.ceil(groups / groupsX)],
  });
}

/** A launch over the packed qkv tensor [B, N, 3·H·D]. */
function launchPacked(
  op: string,
  variant: AttentionVariant,
  qkv: Tensor,
  shape: QkvShape,
  window: number,
  residualIn: Tensor | null,
  outputs: readonly Tensor[],
  extras: LaunchExtras = {},
): void {
  const channels = shape.heads * shape.headDim;
  const packed = 3 * channels;
  launch({
    op,
    variant,
    batch: shape.batch,
    heads: shape.heads,
    headDim: shape.headDim,
    queries: shape.tokens,
    keys: shape.tokens,
    q: { tensor: qkv, layout: { rowStride: packed, columnOffset: 0 } },
    k: { tensor: qkv, layout: { rowStride: packed, columnOffset: channels } },
    v: { tensor: qkv, layout: { rowStride: packed, columnOffset: 2 * channels } },
    outputs,
    window,
    residualIn,
    ...extras,
  });
}

function emptyOutput(gpu: Gpu, shape: QkvShape, label: string): Tensor {
  return Tensor.empty(gpu, [shape.batch, shape.tokens, shape.heads * shape.headDim], "f32", label);
}

/** softmax(q·kᵀ/√D)·v per head: [B, N, 3·H·D] → [B, N, H·D]. */
export function fullAttention(qkv: Tensor, heads: number): Tensor {
  const shape = qkvShape("fullAttention", qkv, heads);
  const output = emptyOutput(qkv.gpu, shape, "attention");
  if (shape.tokens > 0) launchPacked("fullAttention", "full", qkv, shape, 0, null, [output]);
  return output;
}

/**
 * Attention restricted to the band |i − j| ≤ window over the flattened token index. With a
 * residual [B, N, H·D], returns window + residual (the add happens in the kernel's store).
 */
export function windowAttention(
  qkv: Tensor,
  heads: number,
  window: number,
  residual?: Tensor,
): Tensor {
  const op = "windowAttention";
  const shape = qkvShape(op, qkv, heads);
  checkWindow(op, window);
  const expected = [shape.batch, shape.tokens, shape.heads * shape.headDim];
  if (residual) {
    const ok = residual.dtype === "f32" && residual.shape.length === 3 &&
      residual.shape.every((d, i) => d === expected[i]);
    if (!ok) {
      throw new ShapeError(
        `${op}: residual must be f32 [${expected}] for qkv [${qkv.shape}] with ${heads} heads, ` +
          `got ${residual.dtype} [${residual.shape}]`,
      );
    }
  }
  const output = emptyOutput(qkv.gpu, shape, "window-attention");
  if (shape.tokens > 0) {
    launchPacked(op, "window", qkv, shape, window, residual ?? null, [output]);
  }
  return output;
}

/**
 * Full attention and the residual full − window(w) (DiTFastAttn's R cache, before the
 * out-projection) from one pass over the keys.
 */
export function fullAttentionWithResidual(
  qkv: Tensor,
  heads: number,
  window: number,
): { output: Tensor; residual: Tensor } {
  const op = "fullAttentionWithResidual";
  const shape = qkvShape(op, qkv, heads);
  checkWindow(op, window);
  const output = emptyOutput(qkv.gpu, shape, "attention");
  const residual = emptyOutput(qkv.gpu, shape, "attention-residual");
  if (shape.tokens > 0) launchPacked(op, "fused", qkv, shape, window, null, [output, residual]);
  return { output, residual };
}

/**
 * Cross-attention of queries q [B, N, H·D] over keys/values kv [B, L, 2·H·D] (k in the first
 * H·D columns, v in the rest, as a stacked k/v projection writes them). With `keyMask`
 * [B, L] (1 keep, 0 drop), dropped keys get the score bias −10000, as in diffusers; a sample
 * whose mask is all zero therefore attends uniformly, exactly as there.
 */
export function crossAttention(q: Tensor, kv: Tensor, heads: number, keyMask?: Tensor): Tensor {
  const op = "crossAttention";
  if (q.dtype !== "f32" || kv.dtype !== "f32") {
    throw new ShapeError(`${op}: f32 q and kv expected, got ${q.dtype} and ${kv.dtype}`);
  }
  if (q.shape.length !== 3 || kv.shape.length !== 3) {
    throw new ShapeError(
      `${op}: q must be [B, N, H·D] and kv [B, L, 2·H·D], got [${q.shape}] ` +
        `and [${kv.shape}]`,
    );
  }
  const [batch, queries, channels] = q.shape;
  const [kvBatch, keys, kvChannels] = kv.shape;
  if (!Number.isInteger(heads) || heads < 1 || channels % heads !== 0 || channels === 0) {
    throw new ShapeError(`${op}: q width ${channels} is not divisible by ${heads} heads`);
  }
  if (kvBatch !== batch || kvChannels !== 2 * channels) {
    throw new ShapeError(
      `${op}: kv must be [${batch}, L, ${2 * channels}] for q [${q.shape}], got [${kv.shape}]`,
    );
  }
  if (keyMask) checkKeyMask(op, keyMask, batch, keys, `kv [${kv.shape}]`);
  if (keys === 0) throw new ShapeError(`${op}: kv has no keys (L = 0)`);
  const output = Tensor.empty(q.gpu, [batch, queries, channels], "f32", "cross-attention");
  if (queries === 0 || batch === 0) return output;
  launch({
    op,
    variant: "full",
    batch,
    heads,
    headDim: channels / heads,
    queries,
    keys,
    q: { tensor: q, layout: { rowStride: channels, columnOffset: 0 } },
    k: { tensor: kv, layout: { rowStride: 2 * channels, columnOffset: 0 } },
    v: { tensor: kv, layout: { rowStride: 2 * channels, columnOffset: channels } },
    outputs: [output],
    window: 0,
    keyMask,
  });
  return output;
}

/** Bias a masked key gets in `biasedAttention` by default: finite, and far below any real score. */
export const T5_MASKED_KEY_BIAS = -1e30;

export interface BiasedAttentionOptions {
  /** Factor on q·kᵀ (default 1: T5 folds the 1/√D into its weights). */
  scale?: number;
  /**
   * Bias added to the score of a key whose mask is 0 (default −1e30, standing in for
   * transformers' finfo.min). It swamps every real score, so masked keys get exactly zero weight
   * while any key is kept; a row whose keys are all masked attends uniformly, as in
   * transformers, where finfo.min absorbs the scores alike.
   */
  maskedKeyBias?: number;
}

/**
 * Self-attention with an additive score bias, as T5's encoder computes it:
 * softmax(scale·q·kᵀ + bias[h] + (1 − keyMask[b])·maskedKeyBias)·v per head, over the packed
 * qkv [B, N, 3·H·D] → [B, N, H·D]. `bias` is [H, N, N] f32, shared by every batch element (T5's
 * relative position bias); `keyMask` [B, N] f32 (1 keep, 0 drop). Padded query rows are computed
 * like the others. The softmax subtracts the running max, so large negative biases never
 * overflow.
 */
export function biasedAttention(
  qkv: Tensor,
  heads: number,
  bias: Tensor,
  keyMask?: Tensor,
  options: BiasedAttentionOptions = {},
): Tensor {
  const op = "biasedAttention";
  const shape = qkvShape(op, qkv, heads);
  const { batch, tokens } = shape;
  if (
    bias.dtype !== "f32" || bias.shape.length !== 3 || bias.shape[0] !== heads ||
    bias.shape[1] !== tokens || bias.shape[2] !== tokens
  ) {
    throw new ShapeError(
      `${op}: bias must be f32 [${heads}, ${tokens}, ${tokens}] for qkv [${qkv.shape}] with ` +
        `${heads} heads, got ${bias.dtype} [${bias.shape}]`,
    );
  }
  if (keyMask) checkKeyMask(op, keyMask, batch, tokens, `qkv [${qkv.shape}]`);
  const scale = options.scale ?? 1;
  const maskedKeyBias = options.maskedKeyBias ?? T5_MASKED_KEY_BIAS;
  if (!Number.isFinite(scale) || !Number.isFinite(maskedKeyBias)) {
    throw new OptionError(
      `${op}: scale (${scale}) and maskedKeyBias (${maskedKeyBias}) must be finite`,
    );
  }
  const output = emptyOutput(qkv.gpu, shape, "biased-attention");
  if (tokens === 0 || batch === 0) return output;
  const extras = { keyMask, maskedKeyBias, scoreBias: bias, scale };
  launchPacked(op, "full", qkv, shape, 0, null, [output], extras);
  return output;
}
