/**
 * Ours against plain PyTorch on the same CPU (bench/peer_torch.py), run alternately — ours, peer,
 * ours, peer — so load from other processes falls on both alike; prints each pair and the
 * ratio. Not part of the test suite.
 *
 *   deno run -A --unstable-webgpu bench/peer_compare.ts [--cases xl256,xl512,tiny-demo]
 *       [--rounds 2] [--python /usr/bin/python3] [--threads 2] [--choices FILE]
 *       [--plan-file PLAN]
 *
 * Cases (both sides f32, random weights for XL, CFG scale 4):
 * - xl256 / xl512: one DiT-XL/2 denoising step, CFG batch 2 (one image), 256 px (256 tokens) or
 *   512 px (1024 tokens); ours times a step after one untimed step (compilation, kernel trials).
 * - tiny-demo: the embedded tiny-fmnist model's demo shape, 20 images in one batch, DDIM-20 with
 *   CFG; seconds per image (both the embedded weights).
 * Ours also runs under a DiTFastAttn plan, timed right after the peer's full run: for XL the
 * hand-made plan of about half the attention MACs (random weights cannot be calibrated), for
 * tiny-demo the plan of --plan-file (e.g. `deno task calibrate --threshold 0.05 --n-calib 4
 * --out plan.json`; without it tiny-demo runs full only).
 * Threads: lavapipe runs one worker per core (2 here); the peer gets --threads (default 2).
 * Needs Debian's python3-torch and libopenblas0-pthread for the peer.
 */

import { DiTModel } from "../models/dit/model.ts";
import type { AttentionPlan } from "../src/compression/plan.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { DIT_XL_2_256, randomDiTSource } from "../testing/random_dit.ts";
import { planOf } from "../src/compression/plan_file.ts";
import { loadPlan, localFolder } from "../deno.ts";
import { geometricMean, runPeerScript } from "./peers.ts";
import { halfAttentionPlan } from "./scale_plan_mix.ts";
import { benchArgs, gpuWithKernelChoices } from "./bench_args.ts";

const values = benchArgs({
  cases: "tiny-demo,xl256,xl512",
  rounds: "2",
  python: "/usr/bin/python3",
  threads: "2",
  choices: undefined,
  "plan-file": undefined,
});
const rounds = Number(values.rounds);
const gpu = await gpuWithKernelChoices(values.choices);

function load(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
}

/** The peer's seconds (per step or per image) for one run of `peerCase`. */
async function peer(peerCase: string): Promise<number> {
  const args = ["--case", peerCase, "--threads", values.threads];
  return (await runPeerScript<{ seconds: number }>(values.python, "peer_torch.py", args)).seconds;
}

/** Ours: timing one run (seconds per step or per image), full and under a plan, after warm-up. */
interface Ours {
  full: () => Promise<number>;
  plan?: () => Promise<number>;
  done: () => void;
}

async function ours(peerCase: string): Promise<Ours> {
  if (peerCase === "tiny-demo") {
    const model = await DiTModel.load(
      gpu,
      localFolder(new URL("../assets/tiny-fmnist", import.meta.url).pathname),
    );
    const labels = Array.from({ length: 20 }, (_, i) => i % 10);
    const options = { labels, steps: 20, cfgScale: 4, seed: 1 };
    await sampleDiT(model, { ...options, steps: 2 }); // compile, trials
    const timed = (plan?: AttentionPlan) => async () => {
      const started = performance.now();
      await sampleDiT(model, { ...options, plan });
      return (performance.now() - started) / 1000 / labels.length;
    };
    // The plan's steps, sampler (DDIM) and guidance (4) are the demo's: the file is checked
    // for them so that both runs do the same sampling.
    const file = values["plan-file"] ? await loadPlan(values["plan-file"]) : undefined;
    if (file && (file.steps !== 20 || file.sampler !== "ddim" || file.cfgScale !== 4)) {
      throw new Error(
        `--plan-file: expected a DDIM-20, cfg 4 plan, got ${file.steps} steps, ${file.sampler}, cfg ${file.cfgScale}`,
      );
    }
    const plan = file ? planOf(file) : undefined;
    if (plan) await sampleDiT(model, { ...options, steps: 20, plan }); // compile plan kernels
    return { full: timed(), plan: plan && timed(plan), done: () => model.release() };
  }
  const size = peerCase === "xl512" ? 512 : 256;
  const config = { ...DIT_XL_2_256, sampleSize: size / 8 };
  const model = await DiTModel.fromSource(gpu, config, randomDiTSource(config), {
    freePackedWeights: true,
  });
  const options = { labels: [207], steps: 1, cfgScale: 4, seed: 1 };
  await sampleDiT(model, options); // compile, trials
  // Random weights cannot be calibrated meaningfully: the plan run uses the hand-made plan of
  // about half the attention MACs (bench/scale_plan_mix.ts) and times its third step, a
  // compressed one (step 0 is full and fills the residual caches).
  const plan = halfAttentionPlan(config.numLayers, 3, (size / 16) ** 2);
  await sampleDiT(model, { ...options, steps: 3, plan }); // compile plan kernels
  return {
    full: async () => (await sampleDiT(model, options)).stepSeconds[0],
    plan: async () => (await sampleDiT(model, { ...options, steps: 3, plan })).stepSeconds[2],
    done: () => model.release(),
  };
}

console.log(
  `adapter: ${gpu.adapterDescription}; peer: ${values.python} with ${values.threads} threads`,
);
for (const peerCase of values.cases.split(",")) {
  const mine = await ours(peerCase);
  const unit = peerCase === "tiny-demo" ? "s per image" : "s per step";
  const ratios: number[] = [];
  const planRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const loadBefore = load();
    const a = await mine.full();
    const b = await peer(peerCase);
    const c = mine.plan ? await mine.plan() : undefined;
    ratios.push(b / a);
    if (c !== undefined) planRatios.push(b / c);
    const planned = c === undefined
      ? ""
      : `; ours under the plan ${c.toFixed(2)}, ${(b / c).toFixed(2)}× torch's full speed`;
    console.log(
      `${peerCase} round ${round + 1}: ours ${a.toFixed(2)} ${unit}, torch ${b.toFixed(2)} ` +
        `${unit}, ours ÷ torch speed ${(b / a).toFixed(2)}×${planned} ` +
        `(load ${loadBefore} → ${load()})`,
    );
  }
  mine.done();
  console.log(
    `${peerCase}: ours ÷ torch speed ${ratios.map((r) => r.toFixed(2)).join(", ")}; ` +
      `geometric mean ${geometricMean(ratios).toFixed(2)}×` +
      (planRatios.length ? `; under the plan ${geometricMean(planRatios).toFixed(2)}×` : ""),
  );
}
