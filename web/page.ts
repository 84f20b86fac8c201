/// <reference lib="dom" />
/**
 * The page: loads the embedded DiT by fetch, shows the adapter, samples a grid of classes with
 * full attention and with a plan side by side, calibrates, downloads and loads plans. The
 * library comes from `ditfastattn.js`, the same bundle a user imports from a module script.
 *
 * Everything the buttons do is also on `window.ditfastattnPage`, returning plain numbers, so a
 * test driving the page over the DevTools protocol checks the very code paths a user clicks.
 */

import type * as Lib from "../mod.ts";
import {
  acquireGpu,
  type AdapterReport,
  readPageOptions,
  showAdapterError,
} from "./adapter_panel.ts";
import {
  calibrate,
  type CalibrationRequest,
  type DiTSampler,
  downloadPlan,
  planFromText,
  type PlanReport,
  planReport,
  readCalibrationForm,
  showCalibrationRequest,
  showPlan,
  showPlanError,
  wireThresholdSlider,
} from "./calibration_panel.ts";
import type { GridLayout } from "./draw.ts";
import { figuresOf, type RunFigures, RunView, showFigures } from "./runs.ts";
import {
  type CacheCheck,
  compareCachedReads,
  type LoadedModel,
  loadModel,
} from "./model_loading.ts";

export interface CompareRequest {
  /** Class labels to sample (default: every class, `perClass` times). */
  labels?: number[];
  perClass?: number;
  seed?: number;
  /** Initial noise (the golden test's), instead of the seeded draw. */
  noise?: number[];
  /** Steps of the full run when there is no plan (default 20). */
  steps?: number;
  /** Full attention only, at `steps`, even when a plan is loaded. */
  fullOnly?: boolean;
}

export interface CompareReport {
  labels: number[];
  full: RunFigures;
  plan: RunFigures | null;
  speedup: number | null;
  /** The full-attention samples, [B, C, H, W] flattened (returned when `withImages`). */
  fullImages?: number[];
}

export interface PageApi {
  /** Resolves when the adapter is set up and the model loaded (rejects with the page's message). */
  ready: Promise<{ adapter: AdapterReport; model: LoadedModel["report"] }>;
  compare(request?: CompareRequest, withImages?: boolean): Promise<CompareReport>;
  /**
   * Full attention from the reference file's noise and labels (DDIM-20, CFG 4), for its first
   * `images` samples (default all; each sample depends only on its own noise and label).
   */
  sampleReference(images?: number): Promise<CompareReport>;
  calibrate(request: CalibrationRequest): Promise<PlanReport>;
  planJson(): string;
  loadPlanText(text: string, name?: string): PlanReport;
  /** Step times of a full-attention run of `batch` images (no drawing), for the benchmark. */
  timeSteps(batch: number, steps: number): Promise<number[]>;
  checkCache(): Promise<CacheCheck>;
}

declare global {
  interface Window {
    ditfastattnPage: PageApi;
  }
}

const DEFAULT_STEPS = 20;
const CFG_SCALE = 4;

let readySettled: (value: Awaited<PageApi["ready"]>) => void;
let readyFailed: (error: Error) => void;
const ready = new Promise<Awaited<PageApi["ready"]>>((resolve, reject) => {
  readySettled = resolve;
  readyFailed = reject;
});
// Set before any await, so a test polling for it never sees a half-started page.
const api: Partial<PageApi> = { ready };
// deno-lint-ignore no-window -- a page: the test finds the API on window
window.ditfastattnPage = api as PageApi;

let busy = false;
/** Runs one job at a time with the controls disabled; errors land in `onError`. */
async function exclusive<T>(job: () => Promise<T>, onError?: (e: Error) => void): Promise<T> {
  if (busy) throw new Error("the page is busy with another run");
  busy = true;
  setControls(false);
  try {
    return await job();
  } catch (e) {
    onError?.(e as Error);
    throw e;
  } finally {
    busy = false;
    setControls(true);
  }
}

function setControls(enabled: boolean): void {
  for (const id of ["sample-button", "calibrate-button", "plan-file"]) {
    (document.getElementById(id) as HTMLButtonElement).disabled = !enabled;
  }
  (document.getElementById("download-plan") as HTMLButtonElement).disabled = !enabled ||
    sampler === null;
}

let sampler: DiTSampler | null = null;

async function start(): Promise<void> {
  const options = readPageOptions(location);
  let lib: typeof Lib;
  try {
    lib = await import(new URL("./ditfastattn.js", import.meta.url).href);
  } catch (e) {
    throw showAdapterError(`Could not load the library bundle: ${(e as Error).message}`);
  }
  const { gpu, report: adapter } = await acquireGpu(lib, options);
  // SwiftShader's compiler runs out of memory on the fused full + residual attention kernel
  // at this model's size, so window attention (which needs that kernel) is off there.
  const swiftShader = /swiftshader/i.test(`${adapter.architecture} ${adapter.description}`);
  if (swiftShader) {
    (document.getElementById("window-candidates") as HTMLInputElement).checked = false;
    document.getElementById("window-note")!.hidden = false;
  }
  const modelStatus = document.getElementById("model-status")!;
  let loaded: LoadedModel;
  try {
    loaded = await loadModel(lib, gpu, options, (text) => modelStatus.textContent = text);
  } catch (e) {
    modelStatus.className = "error";
    modelStatus.textContent = `Could not load the model: ${(e as Error).message}`;
    throw e;
  }
  const { model, classNames } = loaded;
  const layout: GridLayout = { cropBorder: loaded.cropBorder, scale: 3, columns: 5 };
  const fullView = new RunView(document.getElementById("run-full")!);
  const planView = new RunView(document.getElementById("run-plan")!);
  const captions = (labels: readonly number[]) => labels.map((l) => classNames[l] ?? `class ${l}`);

  const compare = (request: CompareRequest = {}, withImages = false) =>
    exclusive(async () => {
      const perClass = request.perClass ?? 1;
      const classes = model.config.numClasses;
      const labels = request.labels ??
        Array.from({ length: classes * perClass }, (_, i) => i % classes);
      const noise = request.noise ? Float32Array.from(request.noise) : undefined;
      const planned = request.fullOnly ? null : sampler;
      const settings = planned?.planFile;
      const steps = settings?.steps ?? request.steps ?? DEFAULT_STEPS;
      fullView.start(steps, `${labels.length} images, ${steps} steps…`);
      const fullResult = await lib.dit.sampleDiT(model, {
        labels,
        seed: request.seed,
        noise,
        steps,
        sampler: settings?.sampler ?? "ddim",
        cfgScale: settings?.cfgScale ?? CFG_SCALE,
        onStep: fullView.onStep,
      });
      const full = figuresOf(fullResult, 1);
      fullView.draw(fullResult, captions(labels), layout);
      fullView.status(
        `${labels.length} images, ${steps} steps, ${
          noise ? "reference" : "seed " + (request.seed ?? 0)
        } noise`,
      );
      let plan: RunFigures | null = null;
      if (planned) {
        planView.start(steps, `${labels.length} images with the plan…`);
        const planResult = await planned.sample({
          labels,
          seed: request.seed,
          noise,
          onStep: planView.onStep,
        });
        plan = figuresOf(planResult, planned.cost().attentionMacsFraction);
        planView.draw(planResult, captions(labels), layout);
        planView.status(`${labels.length} images, plan δ=${planned.planFile.threshold}`);
      }
      showFigures(full, plan);
      return {
        labels,
        full,
        plan,
        speedup: plan ? full.secondsPerImage / plan.secondsPerImage : null,
        fullImages: withImages ? Array.from(fullResult.samples) : undefined,
      };
    }, (e) => fullView.status(e.message, true));

  api.compare = compare;
  api.sampleReference = async (images) => {
    const reference = await loaded.readReference(images);
    // The reference is full attention at its own settings (DDIM-20, CFG 4).
    const { labels, noise } = reference;
    return await compare({ labels, noise, steps: 20, fullOnly: true }, true);
  };
  api.calibrate = (request) =>
    exclusive(async () => {
      const settled = { ...request, windowCandidates: request.windowCandidates ?? !swiftShader };
      showCalibrationRequest(settled);
      sampler = await calibrate(lib, model, settled);
      showPlan(sampler, "calibrated here");
      return planReport(sampler);
    }, (e) => showPlanError(`Calibration failed: ${e.message}`));
  api.planJson = () => {
    if (!sampler) throw new Error("no plan yet");
    return lib.planToJson(sampler.planFile);
  };
  api.loadPlanText = (text, name = "plan.json") => {
    try {
      const loaded = planFromText(lib, model, text, name);
      const usesWindow = loaded.planFile.methods.flat().some((m) => m.includes("WINDOW"));
      if (swiftShader && usesWindow) {
        throw new Error(
          `${name}: this plan uses window attention, which SwiftShader cannot compile at this ` +
            "model's size; sample it on another adapter",
        );
      }
      sampler = loaded;
    } catch (e) {
      showPlanError((e as Error).message);
      throw e;
    }
    showPlan(sampler, `from ${name}`);
    return planReport(sampler);
  };
  api.timeSteps = (batch, steps) =>
    exclusive(async () => {
      const labels = Array.from({ length: batch }, (_, i) => i % model.config.numClasses);
      const result = await lib.dit.sampleDiT(model, {
        labels,
        steps,
        seed: 1,
        cfgScale: CFG_SCALE,
      });
      return result.stepSeconds;
    });
  api.checkCache = () => compareCachedReads(lib, options);

  wireControls(lib);
  setControls(true);
  readySettled({ adapter, model: loaded.report });
}

function wireControls(lib: typeof Lib): void {
  wireThresholdSlider();
  document.getElementById("sample-form")!.addEventListener("submit", (event) => {
    event.preventDefault();
    const perClass = Number((document.getElementById("per-class") as HTMLInputElement).value);
    const seed = Number((document.getElementById("seed") as HTMLInputElement).value);
    api.compare?.({ perClass, seed }).catch(() => {});
  });
  document.getElementById("calibrate-form")!.addEventListener("submit", (event) => {
    event.preventDefault();
    api.calibrate?.(readCalibrationForm()).catch(() => {});
  });
  document.getElementById("download-plan")!.addEventListener("click", () => {
    if (sampler) downloadPlan(lib, sampler);
  });
  const fileInput = document.getElementById("plan-file") as HTMLInputElement;
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    try {
      api.loadPlanText?.(await file.text(), file.name);
    } catch {
      // shown on the plan's error line
    }
    fileInput.value = "";
  });
}

start().catch((e) => {
  // Errors from the adapter and model panels are shown already; anything else (a bad query
  // option, say) goes to the adapter panel too, so the page never just stays blank.
  if (document.getElementById("adapter-status")!.className !== "error") {
    showAdapterError((e as Error).message);
  }
  readyFailed(e as Error);
});
