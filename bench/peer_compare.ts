/**
 * Ours against plain PyTorch on the same CPU (bench/peer_torch.py), run alternately — ours, peer,
 * ours, peer — so load from other processes falls on both alike; prints each pair and the
 * ratio. Not part of the test suite.
 *
 *   deno run -A --unstable-webgpu bench/peer_compare.ts [--cases xl256,xl512,tiny-demo]
 *       [--rounds 2] [--python /usr/bin/python3] [--threads 2] [--choices FILE]
 *
 * Cases (both sides f32, random weights for XL, CFG scale 4):
 * - xl256 / xl512: one DiT-XL/2 denoising step, CFG batch 2 (one image), 256 px (256 tokens) or
 *   512 px (1024 tokens); ours times a step after one untimed step (compilation, kernel trials).
 * - tiny-demo: the embedded tiny-fmnist model's demo shape, 20 images in one batch, DDIM-20 with
 *   CFG; seconds per image (both the embedded weights).
 * Threads: lavapipe runs one worker per core (2 here); the peer gets --threads (default 2).
 * Needs Debian's python3-torch and libopenblas0-pthread for the peer.
 */

import { DiTModel } from "../models/dit/model.ts";
import { sampleDiT } from "../models/dit/sample.ts";
import { DIT_XL_2_256, randomDiTSource } from "../testing/random_dit.ts";
import { localFolder } from "../deno.ts";
import { benchArgs, gpuWithKernelChoices } from "./bench_args.ts";

const values = benchArgs({
  cases: "tiny-demo,xl256,xl512",
  rounds: "2",
  python: "/usr/bin/python3",
  threads: "2",
  choices: undefined,
});
const rounds = Number(values.rounds);
const gpu = await gpuWithKernelChoices(values.choices);

function load(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
}

/** The peer's seconds (per step or per image) for one run of `peerCase`. */
async function peer(peerCase: string): Promise<number> {
  const script = new URL("./peer_torch.py", import.meta.url).pathname;
  const output = await new Deno.Command(values.python, {
    args: [script, "--case", peerCase, "--threads", values.threads],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`peer_torch.py failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(text.split("\n").at(-1)!).seconds;
}

/** Ours: a function timing one run (seconds per step or per image), after its warm-up. */
async function ours(peerCase: string): Promise<{ run: () => Promise<number>; done: () => void }> {
  if (peerCase === "tiny-demo") {
    const model = await DiTModel.load(
      gpu,
      localFolder(new URL("../assets/tiny-fmnist", import.meta.url).pathname),
    );
    const labels = Array.from({ length: 20 }, (_, i) => i % 10);
    const options = { labels, steps: 20, cfgScale: 4, seed: 1 };
    await sampleDiT(model, { ...options, steps: 2 }); // compile, trials
    return {
      run: async () => {
        const started = performance.now();
        await sampleDiT(model, options);
        return (performance.now() - started) / 1000 / labels.length;
      },
      done: () => model.release(),
    };
  }
  const size = peerCase === "xl512" ? 512 : 256;
  const config = { ...DIT_XL_2_256, sampleSize: size / 8 };
  const model = await DiTModel.fromSource(gpu, config, randomDiTSource(config), {
    freePackedWeights: true,
  });
  const options = { labels: [207], steps: 1, cfgScale: 4, seed: 1 };
  await sampleDiT(model, options); // compile, trials
  return {
    run: async () => (await sampleDiT(model, options)).stepSeconds[0],
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
  for (let round = 0; round < rounds; round++) {
    const loadBefore = load();
    const a = await mine.run();
    const b = await peer(peerCase);
    ratios.push(b / a);
    console.log(
      `${peerCase} round ${round + 1}: ours ${a.toFixed(2)} ${unit}, torch ${b.toFixed(2)} ` +
        `${unit}, ours ÷ torch speed ${(b / a).toFixed(2)}× (load ${loadBefore} → ${load()})`,
    );
  }
  mine.done();
  const geometricMean = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
  console.log(
    `${peerCase}: ours ÷ torch speed ${ratios.map((r) => r.toFixed(2)).join(", ")}; ` +
      `geometric mean ${geometricMean.toFixed(2)}×`,
  );
}
