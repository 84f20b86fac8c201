/**
 * Seconds per sampling step of tiny-fmnist in Deno and in the page (headless Chromium) on the
 * same adapter, with the same batch and kernel family:
 * - lavapipe: Deno on Vulkan/lavapipe vs the page through ANGLE (Vulkan → lavapipe),
 * - SwiftShader: Deno on Chromium's own SwiftShader Vulkan driver vs the page's default adapter.
 * Both sides stay warm (shaders compiled by a first run) and are measured alternately,
 * A B A B, so load from other processes hits both alike. Each figure is the median step time of
 * one run; the ratio is page / Deno over the medians of all runs.
 *
 * deno run -A bench/browser_vs_deno.ts [--batch 4] [--steps 10] [--rounds 3]
 *     [--routes lavapipe,swiftshader] [--kernels cpu|gpu]
 */

import { dit } from "../mod.ts";
import { getGpu, localFolder } from "../deno.ts";
import { ADAPTER_ROUTES, Chromium, hasChromium } from "../testing/chromium.ts";
import { buildPage } from "../web/build.ts";
import { serveStatic } from "../web/static_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The Vulkan driver Deno is pointed at for each route. */
const DENO_ICD: Record<string, string> = {
  lavapipe: "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
  swiftshader: "/usr/lib/chromium/vk_swiftshader_icd.json",
};

function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && at + 1 < Deno.args.length ? Deno.args[at + 1] : fallback;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The Deno side, run as a child: one line of step times per "run" line on stdin. */
async function denoSide(batch: number, steps: number, cpuKernels: boolean): Promise<void> {
  const gpu = await getGpu({ cpuKernels });
  const model = await dit.DiTModel.load(gpu, localFolder(`${ROOT}assets/tiny-fmnist`));
  const labels = Array.from({ length: batch }, (_, i) => i % model.config.numClasses);
  const write = (value: unknown) =>
    Deno.stdout.write(new TextEncoder().encode(JSON.stringify(value) + "\n"));
  await write({ adapter: gpu.adapterInfo.description, cpuKernels: gpu.cpuKernels });
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { done, value } = await lines.read();
    if (done) break;
    pending += value;
    while (pending.includes("\n")) {
      pending = pending.slice(pending.indexOf("\n") + 1);
      const result = await dit.sampleDiT(model, { labels, steps, seed: 1, cfgScale: 4 });
      await write(result.stepSeconds);
    }
  }
}

/** A warm Deno child on one Vulkan driver. */
class DenoRunner {
  #process: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(icd: string, batch: number, steps: number, cpuKernels: boolean) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-webgpu",
        import.meta.filename!,
        "--deno-side",
        String(batch),
        String(steps),
        cpuKernels ? "1" : "0",
      ],
      env: {
        DENO_WEBGPU_BACKEND: "vulkan",
        VK_ICD_FILENAMES: icd,
        XDG_RUNTIME_DIR: Deno.makeTempDirSync(),
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#process.stdin.getWriter();
    this.#reader = this.#process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async line<T>(): Promise<T> {
    while (!this.#buffered.includes("\n")) {
      const { done, value } = await this.#reader.read();
      if (done) throw new Error("the Deno side exited early");
      this.#buffered += value;
    }
    const at = this.#buffered.indexOf("\n");
    const text = this.#buffered.slice(0, at);
    this.#buffered = this.#buffered.slice(at + 1);
    return JSON.parse(text) as T;
  }

  async run(): Promise<number[]> {
    await this.#writer.write(new TextEncoder().encode("run\n"));
    return await this.line<number[]>();
  }

  async close(): Promise<void> {
    await this.#writer.close();
    await this.#process.status;
  }
}

async function main(): Promise<void> {
  const batch = Number(option("batch", "4"));
  const steps = Number(option("steps", "10"));
  const rounds = Number(option("rounds", "3"));
  const cpuKernels = option("kernels", "cpu") === "cpu";
  const routes = option("routes", "lavapipe,swiftshader").split(",");
  if (!hasChromium()) throw new Error("/usr/bin/chromium is absent (apt-get install chromium)");
  const dist = await buildPage();
  const server = await serveStatic({
    roots: [{ prefix: "/", dir: dist }, { prefix: "/assets/", dir: `${ROOT}assets` }],
  });
  console.log(
    `tiny-fmnist, batch ${batch} (model batch ${2 * batch} with CFG), ${steps} DDIM steps, ` +
      `${cpuKernels ? "CPU" : "GPU"}-shaped kernels; median s/step per run, runs alternate`,
  );
  try {
    for (const name of routes) {
      const route = ADAPTER_ROUTES.find((r) => r.name === name);
      if (!route) throw new Error(`--routes: unknown route ${name}`);
      const deno = new DenoRunner(DENO_ICD[name], batch, steps, cpuKernels);
      const chromium = await Chromium.launch(route);
      try {
        const info = await deno.line<{ adapter: string }>();
        const query = new URLSearchParams({ ...route.query, cpuKernels: cpuKernels ? "1" : "0" });
        const page = await chromium.open(`${server.url}index.html?${query}`);
        await page.evaluate(`(async () => {
          while (!window.ditfastattnPage) await new Promise((r) => setTimeout(r, 50));
          await window.ditfastattnPage.ready;
        })()`);
        const pageRun = () =>
          page.evaluate<number[]>(`ditfastattnPage.timeSteps(${batch}, ${steps})`);
        // Warm-up: the first run of each compiles its shaders.
        await deno.run();
        await pageRun();
        const denoMedians: number[] = [];
        const pageMedians: number[] = [];
        for (let r = 0; r < rounds; r++) {
          denoMedians.push(median(await deno.run()));
          pageMedians.push(median(await pageRun()));
        }
        const d = median(denoMedians);
        const p = median(pageMedians);
        const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(" ");
        console.log(`${name} (Deno adapter: ${info.adapter})`);
        console.log(`  Deno  s/step: ${fmt(denoMedians)}  → ${d.toFixed(3)}`);
        console.log(`  page  s/step: ${fmt(pageMedians)}  → ${p.toFixed(3)}`);
        console.log(`  page / Deno: ${(p / d).toFixed(2)}×`);
      } finally {
        await chromium.close();
        await deno.close();
      }
    }
  } finally {
    await server.close();
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--deno-side") {
    await denoSide(Number(Deno.args[1]), Number(Deno.args[2]), Deno.args[3] === "1");
  } else {
    await main();
  }
}
