/**
 * The page (web/) in Debian's headless Chromium on both WebGPU adapter routes, driven over the
 * DevTools protocol: it loads tiny-fmnist by fetch through the OPFS cache, samples the float64
 * DDIM-20 reference's noise and labels (its images must match at ≤ 1e-3 rel), calibrates a
 * small plan (< 100% attention MACs), round-trips the plan file, samples full and compressed
 * side by side, and leaves a screenshot in out/browser-<route>.png.
 *
 * To keep CI short, every run uses the same batch (the reference's first REFERENCE_IMAGES
 * samples; each sample depends only on its own noise and label), so each kernel compiles once.
 */

import { openSafetensors } from "../deno.ts";
import { ADAPTER_ROUTES, type AdapterRoute, Chromium, hasChromium } from "../testing/chromium.ts";
import type { CdpPage } from "../testing/cdp.ts";
import { buildPage } from "../web/build.ts";
import { serveStatic } from "../web/static_server.ts";
import type { CompareReport } from "../web/page.ts";
import type { CalibrationRequest, PlanReport } from "../web/calibration_panel.ts";
import { assertRelativeError } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const REFERENCE = `${ROOT}assets/tiny-fmnist/sample_ddim20.safetensors`;
/** Reference samples compared (0…3 of the file's 10, labels 0, 1, 2, 3). */
const REFERENCE_IMAGES = 4;

/**
 * The calibration each route runs (count = REFERENCE_IMAGES: the same batch, no new shaders).
 * Both routes prove that the page's calibration yields a plan under 100% attention MACs that
 * round-trips through its file and samples beside full attention. lavapipe (CPU-shaped kernels,
 * every candidate, window attention included) runs a user's search over 4 steps. SwiftShader
 * (GPU-shaped kernels, no window candidates: docs/BROWSER.md) searches step 1 of 2 instead of
 * steps 1–3 of 4 — the same search code on the other kernel family, at about a third of the
 * search and half the plan sampling (with 4 steps the route took 17.5 min on CI). At δ = 0.1,
 * step 1 shares CFG attention in 4 of tiny-fmnist's 6 layers (compress in Deno on lavapipe), so
 * "< 100%" holds with a wide margin.
 */
const CALIBRATION: Record<AdapterRoute["name"], CalibrationRequest> = {
  lavapipe: { threshold: 0.1, count: REFERENCE_IMAGES, steps: 4 },
  swiftshader: { threshold: 0.1, count: REFERENCE_IMAGES, steps: 2 },
};

const skip = !hasChromium();
if (skip) {
  console.warn("browser tests skipped: /usr/bin/chromium is absent (apt-get install chromium)");
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

let built: Promise<string> | null = null;

/** The page's readiness (adapter and model), waiting for the module to define its API. */
const READY = `(async () => {
  while (!window.ditfastattnPage) await new Promise((r) => setTimeout(r, 50));
  return await window.ditfastattnPage.ready;
})()`;

interface Ready {
  adapter: {
    architecture: string;
    featureLevel: string;
    cpuKernels: boolean;
    kernelChoice: string;
  };
  model: { cache: Record<string, number> };
}

async function referenceImages(count: number): Promise<Float32Array> {
  const file = await openSafetensors(REFERENCE);
  try {
    const images = await file.readFloat32("images");
    return images.subarray(0, (images.length / file.info("images").shape[0]) * count);
  } finally {
    file.close();
  }
}

async function runRoute(page: CdpPage, route: AdapterRoute): Promise<void> {
  const ready = await page.evaluate<Ready>(READY);
  const { adapter } = ready;
  if (route.name === "swiftshader") {
    assert(adapter.architecture === "swiftshader", `adapter ${JSON.stringify(adapter)}`);
  } else {
    assert(adapter.featureLevel === "compatibility", `adapter ${JSON.stringify(adapter)}`);
  }
  assert(
    adapter.kernelChoice.startsWith("forced") &&
      adapter.cpuKernels === (route.query.cpuKernels === "1"),
    `kernels: ${JSON.stringify(adapter)}`,
  );
  // A fresh profile: every file fetched once and stored in OPFS, none read uncached.
  const cache = ready.model.cache;
  assert(
    (cache.stored ?? 0) >= 2 && !cache.uncached && !cache.cache,
    `cache ${JSON.stringify(cache)}`,
  );
  const cached = await page.evaluate<{ source: string; equal: boolean; bytesCompared: number }>(
    "ditfastattnPage.checkCache()",
  );
  assert(
    cached.source === "cache" && cached.equal && cached.bytesCompared > 0,
    `OPFS copy: ${JSON.stringify(cached)}`,
  );

  const reference = await page.evaluate<CompareReport>(
    `ditfastattnPage.sampleReference(${REFERENCE_IMAGES})`,
  );
  assert(reference.fullImages, "the page returned no images");
  assertRelativeError(
    reference.fullImages,
    await referenceImages(REFERENCE_IMAGES),
    1e-3,
    `${route.name}: reference samples 0…${REFERENCE_IMAGES - 1} (labels ${reference.labels})`,
  );

  const calibration = CALIBRATION[route.name];
  const plan = await page.evaluate<PlanReport>(
    `ditfastattnPage.calibrate(${JSON.stringify(calibration)})`,
  );
  assert(plan.attentionMacsFraction < 1, `calibrated plan: ${JSON.stringify(plan)}`);
  // The downloaded JSON loads back (parsePlanJson + CompressedSampler.fromPlan) as the same plan,
  // and a broken file is refused with a message naming the field.
  const reloaded = await page.evaluate<PlanReport>(
    "ditfastattnPage.loadPlanText(ditfastattnPage.planJson(), 'downloaded.json')",
  );
  assert(
    reloaded.attentionMacsFraction === plan.attentionMacsFraction,
    `reloaded plan ${JSON.stringify(reloaded)} vs ${JSON.stringify(plan)}`,
  );
  const refused = await page.evaluate<string>(
    `(() => { try { ditfastattnPage.loadPlanText('{"format": "ditfastattn-plan"}', 'broken.json'); return "loaded"; } catch (e) { return e.message; } })()`,
  );
  assert(/broken\.json/.test(refused) && refused !== "loaded", `broken plan: ${refused}`);

  const compared = await page.evaluate<CompareReport>(
    `ditfastattnPage.compare({ labels: ${JSON.stringify(reference.labels)}, seed: 1 })`,
  );
  assert(compared.plan, "the comparison ran no plan");
  assert(
    compared.full.attentionMacsFraction === 1 && compared.plan.attentionMacsFraction < 1 &&
      compared.plan.steps === calibration.steps && Number.isFinite(compared.speedup),
    `comparison: ${JSON.stringify({ ...compared, fullImages: undefined })}`,
  );
  console.log(
    `  ${route.name}: reference ${reference.full.stepSeconds.length} steps at ` +
      `${secondsPerStep(reference.full.stepSeconds)} s/step (batch ${REFERENCE_IMAGES}); ` +
      `plan ${(100 * compared.plan.attentionMacsFraction).toFixed(1)}% attention MACs, ` +
      `calibrated in ${plan.calibrationSeconds.toFixed(0)} s, speedup ${
        compared.speedup!.toFixed(2)
      }×`,
  );
  const exceptions = page.console.filter((line) =>
    line.type === "exception" || line.type === "error"
  );
  assert(exceptions.length === 0, `the page reported errors:\n${page.consoleText()}`);
}

function secondsPerStep(stepSeconds: readonly number[]): string {
  const sorted = [...stepSeconds].sort((a, b) => a - b);
  return sorted[sorted.length >> 1].toFixed(2);
}

/**
 * Builds the page (once per run), serves it with the model assets, launches Chromium on `route`
 * and opens `path` there; closes both afterwards. A failure carries Chromium's log.
 */
async function withPage(
  route: AdapterRoute,
  path: string,
  use: (page: CdpPage) => Promise<void>,
  { webgpu = true } = {},
): Promise<void> {
  built ??= buildPage();
  const dist = await built;
  const server = await serveStatic({
    roots: [{ prefix: "/", dir: dist }, { prefix: "/assets/", dir: `${ROOT}assets` }],
  });
  try {
    const chromium = await Chromium.launch(route, [], { webgpu });
    try {
      await use(await chromium.open(`${server.url}${path}`));
    } catch (e) {
      throw new Error(`${(e as Error).message}\nChromium log:\n${chromium.log()}`);
    } finally {
      await chromium.close();
    }
  } finally {
    await server.close();
  }
}

for (const route of ADAPTER_ROUTES) {
  Deno.test({
    name: `the page samples, calibrates and compares in headless Chromium (${route.name})`,
    ignore: skip,
    async fn() {
      const query = new URLSearchParams({ ...route.query, cache: "opfs" });
      await withPage(route, `index.html?${query}`, async (page) => {
        try {
          await runRoute(page, route);
        } finally {
          await Deno.mkdir(`${ROOT}out`, { recursive: true });
          await Deno.writeFile(`${ROOT}out/browser-${route.name}.png`, await page.screenshot());
        }
      });
    },
  });
}

Deno.test({
  name: "the library bundle works from a plain module script (web/minimal.html, SwiftShader)",
  ignore: skip,
  async fn() {
    await withPage(ADAPTER_ROUTES[0], "minimal.html?steps=2", async (page) => {
      const result = await page.evaluate<{ shape: number[]; finite: boolean }>(`(async () => {
        while (!window.minimal) await new Promise((r) => setTimeout(r, 50));
        return await window.minimal;
      })()`);
      assert(
        result.shape.join() === "1,1,32,32" && result.finite,
        `minimal.html: ${JSON.stringify(result)}\n${page.consoleText()}`,
      );
    });
  },
});

Deno.test({
  name: "without WebGPU the page says so instead of failing silently",
  ignore: skip,
  async fn() {
    // No --enable-unsafe-webgpu: headless Chromium on Linux grants no adapter (or no WebGPU).
    const plain: AdapterRoute = { name: "swiftshader", flags: [], query: {} };
    await withPage(plain, "index.html", async (page) => {
      const failure = await page.evaluate<string>(`(async () => {
        while (!window.ditfastattnPage) await new Promise((r) => setTimeout(r, 50));
        try { await window.ditfastattnPage.ready; return "ready"; } catch (e) { return e.message; }
      })()`);
      const shown = await page.evaluate<string>(
        "document.getElementById('adapter-status').textContent",
      );
      assert(failure !== "ready", "the page got an adapter without --enable-unsafe-webgpu");
      assert(
        /no WebGPU|no adapter was granted/.test(shown) && shown === failure,
        `the page shows: ${shown}`,
      );
    }, { webgpu: false });
  },
});
