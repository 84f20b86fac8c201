/**
 * Kernel choice by measurement. A kernel family with several variants (the linear kernels, the
 * attention kernels) asks `KernelChooser.choose` which variant to record for a call. The first
 * call of a shape class gets the fixed default (the first candidate) and queues a trial; the
 * trial runs at the next `Gpu.sync()` (between denoising steps), times every variant on operands
 * of that call's shape for a few milliseconds each, and later calls of the class get the
 * fastest. Timing has to wait for the queue (`onSubmittedWorkDone`), which a launcher recording
 * into a command stream cannot do, hence the deferral.
 *
 * Choices live in a `KernelChoices` store keyed by adapter (vendor, architecture, description,
 * the limits and features the kernels depend on) and by kernel + shape class; the store is a
 * plain JSON value (`toJson` / `fromJson`), so a process can save it and the next one skips
 * the trials (Deno: `loadKernelChoices` / `saveKernelChoices`; a page: `localStorage`).
 */

import { OptionError } from "../errors.ts";

/** Kernel families whose variant is chosen by measurement. */
export type KernelFamily = "linear" | "attention";

export const KERNEL_FAMILIES: readonly KernelFamily[] = ["linear", "attention"];

/** Variants of each family (see `src/ops/linear.ts` and `src/ops/attention.ts`). */
export const KERNEL_VARIANTS: Readonly<Record<KernelFamily, readonly string[]>> = {
  linear: ["tiled", "direct", "gemm"],
  attention: ["direct", "flash"],
};

/** What one shape class's trial found. */
export interface KernelChoiceEntry {
  /** The variant calls of this class use. */
  variant: string;
  /**
   * Milliseconds per launch of each variant timed (a variant cut short keeps its first time;
   * one that failed on this adapter has none).
   */
  millis: Record<string, number>;
}

/** The JSON form of a `KernelChoices` store. */
export interface KernelChoicesJson {
  format: "ditfastattn-kernel-choices";
  version: 1;
  /** Adapter key → (family + shape class) → entry. */
  adapters: Record<string, Record<string, KernelChoiceEntry>>;
}

const FORMAT = "ditfastattn-kernel-choices";

/**
 * Measured kernel choices, per adapter and shape class. Keep them between runs so later runs
 * skip the trials: Deno has `loadKernelChoices` / `saveKernelChoices` (or the
 * DITFASTATTN_KERNEL_CHOICES environment variable); a page can use `localStorage`.
 *
 * @example
 * ```ts
 * import { getGpu, KernelChoices } from "@ditfastattn/ditfastattn";
 * const KEY = "ditfastattn-kernel-choices";
 * const saved = localStorage.getItem(KEY);
 * const gpu = await getGpu({
 *   kernelChoices: saved ? KernelChoices.fromJson(JSON.parse(saved), KEY) : undefined,
 *   onKernelChoicesChanged: (c) => localStorage.setItem(KEY, JSON.stringify(c.toJson())),
 * });
 * ```
 */
export class KernelChoices {
  #adapters = new Map<string, Map<string, KernelChoiceEntry>>();

  /** The entry of `key` on `adapter`, if measured (or loaded). */
  get(adapter: string, key: string): KernelChoiceEntry | undefined {
    return this.#adapters.get(adapter)?.get(key);
  }

  set(adapter: string, key: string, entry: KernelChoiceEntry): void {
    let entries = this.#adapters.get(adapter);
    if (!entries) {
      entries = new Map();
      this.#adapters.set(adapter, entries);
    }
    entries.set(key, { variant: entry.variant, millis: { ...entry.millis } });
  }

  /** Number of entries over all adapters. */
  get size(): number {
    let n = 0;
    for (const entries of this.#adapters.values()) n += entries.size;
    return n;
  }

  /** Adds (or overwrites with) every entry of `other`. */
  merge(other: KernelChoices): void {
    for (const [adapter, entries] of other.#adapters) {
      for (const [key, entry] of entries) this.set(adapter, key, entry);
    }
  }

  toJson(): KernelChoicesJson {
    const adapters: Record<string, Record<string, KernelChoiceEntry>> = {};
    for (const [adapter, entries] of [...this.#adapters].sort(([a], [b]) => a < b ? -1 : 1)) {
      const out: Record<string, KernelChoiceEntry> = {};
      for (const [key, entry] of [...entries].sort(([a], [b]) => a < b ? -1 : 1)) {
        out[key] = { variant: entry.variant, millis: { ...entry.millis } };
      }
      adapters[adapter] = out;
    }
    return { format: FORMAT, version: 1, adapters };
  }

  /**
   * A store from its JSON value (as `toJson` wrote it; `JSON.parse` of a saved file). Throws an
   * OptionError naming `source` and the field at fault.
   */
  static fromJson(value: unknown, source = "kernel choices"): KernelChoices {
    const fail = (what: string): never => {
      throw new OptionError(`${source}: ${what}`);
    };
    const isObject = (v: unknown): v is Record<string, unknown> =>
      typeof v === "object" && v !== null && !Array.isArray(v);
    if (!isObject(value)) return fail("expected a JSON object");
    if (value.format !== FORMAT) {
      fail(`field "format" must be "${FORMAT}", got ${JSON.stringify(value.format)}`);
    }
    if (value.version !== 1) {
      fail(`field "version" must be 1, got ${JSON.stringify(value.version)}`);
    }
    if (!isObject(value.adapters)) return fail(`field "adapters" must be an object`);
    const choices = new KernelChoices();
    for (const [adapter, entries] of Object.entries(value.adapters)) {
      if (!isObject(entries)) return fail(`adapters["${adapter}"] must be an object`);
      for (const [key, entry] of Object.entries(entries)) {
        const where = `adapters["${adapter}"]["${key}"]`;
        if (!isObject(entry) || typeof entry.variant !== "string" || !isObject(entry.millis)) {
          return fail(`${where} must be { variant: string, millis: object }`);
        }
        const family = key.split(" ")[0] as KernelFamily;
        const variants = KERNEL_VARIANTS[family];
        if (!variants) fail(`${where}: unknown kernel family "${family}"`);
        if (!variants.includes(entry.variant)) {
          fail(`${where}: variant "${entry.variant}" is not one of ${variants.join(", ")}`);
        }
        const millis: Record<string, number> = {};
        for (const [variant, ms] of Object.entries(entry.millis)) {
          if (!variants.includes(variant) || typeof ms !== "number" || !(ms >= 0)) {
            fail(`${where}.millis: "${variant}": ${JSON.stringify(ms)} is not a time of a variant`);
          }
          millis[variant] = ms as number;
        }
        choices.set(adapter, key, { variant: entry.variant, millis });
      }
    }
    return choices;
  }
}

/** What identifies an adapter for the choice: the kernels' speed depends on all of it. */
export function adapterKey(
  info: { vendor: string; architecture: string; description: string },
  limits: GPUSupportedLimits,
  features: Iterable<string>,
): string {
  const used = ["shader-f16", "subgroups"].filter((f) => [...features].includes(f));
  const l = limits;
  return [
    info.vendor || "-",
    info.architecture || "-",
    info.description || "-",
    `wg${l.maxComputeWorkgroupStorageSize}/${l.maxComputeInvocationsPerWorkgroup}` +
    `/tex${l.maxTextureDimension2D}`,
    used.join("+") || "-",
  ].join(" | ");
}

/** Smallest power of two ≥ n (1 for n ≤ 1): the bucket of a size in a shape class. */
export function sizeBucket(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** One trial's operands: records a launch of a variant on them; freed afterwards. */
export interface KernelTrial<V extends string> {
  launch(variant: V): void;
  dispose(): void;
}

/** A kernel's question: which of `candidates` should this call use? */
export interface ChoiceRequest<V extends string> {
  family: KernelFamily;
  /** The shape class ("f32 m512 n4096 k2048", …); the key is family + class. */
  shapeClass: string;
  /** Variants that can run this call, the fixed default first. */
  candidates: readonly V[];
  /** Variants the trial times (those that can run the class; default `candidates`). */
  trialVariants?: readonly V[];
  /** Builds operands of this call's shape (called when the trial runs, at the next sync). */
  trial: () => KernelTrial<V>;
}

/** What the chooser needs from the GPU context (kept abstract: no import cycle, testable). */
export interface TrialHost {
  readonly adapterKey: string;
  /** Submits what was recorded. */
  flush(): void;
  /** Resolves when all submitted work is done. */
  workDone(): Promise<void>;
  /** Throws device errors seen so far. */
  checkErrors(): Promise<void>;
  /** Runs `body` with dispatch capture (profiling) suspended. */
  withoutCapture<T>(body: () => Promise<T>): Promise<T>;
  /**
   * Runs `body` catching what it throws and every device error it causes (validation,
   * compilation, out of memory): the message, or null when it ran cleanly.
   */
  failureOf(body: () => Promise<void>): Promise<string | null>;
}

export interface ChooserOptions {
  /** Time variants (default true); false: always the fixed default. */
  trials?: boolean;
  /** Use this variant whenever it can run the call. */
  force?: Partial<Record<KernelFamily, string>>;
  /** The store (shared, loaded from a file); default a new empty one. */
  choices?: KernelChoices;
  /** Called after trials added entries (e.g. to save the store). */
  onChoicesChanged?: (choices: KernelChoices) => void | Promise<void>;
  /** Milliseconds of timed launches per variant per round (default 5). */
  trialMillis?: number;
}

/** A variant must beat the fixed default by this fraction to replace it (noise guard). */
const DEFAULT_MARGIN = 0.1;
/** A variant whose untimed first launch already takes this × the best is not timed further. */
const CUT_SHORT = 3;
const MAX_REPEATS = 16;
const ROUNDS = 2;

export function checkForcedVariants(force: Partial<Record<string, string>>): void {
  for (const [family, variant] of Object.entries(force)) {
    const variants = KERNEL_VARIANTS[family as KernelFamily];
    if (!variants) {
      throw new OptionError(
        `forceVariants: unknown kernel family "${family}" (expected ${KERNEL_FAMILIES.join(", ")})`,
      );
    }
    if (variant !== undefined && !variants.includes(variant)) {
      throw new OptionError(
        `forceVariants.${family}: "${variant}" is not one of ${variants.join(", ")}`,
      );
    }
  }
}

/** Picks kernel variants for one GPU context (see the module comment). */
export class KernelChooser {
  readonly choices: KernelChoices;
  readonly trialsEnabled: boolean;
  /** Trials run so far (one per family + shape class). */
  trialsRun: number = 0;
  /** Launches per "family/variant" recorded through `choose` (tests, benchmarks). */
  readonly launches: Map<string, number> = new Map();
  #force: Partial<Record<KernelFamily, string>>;
  #pending = new Map<string, ChoiceRequest<string>>();
  #onChanged?: (choices: KernelChoices) => void | Promise<void>;
  #trialMillis: number;

  constructor(private readonly host: TrialHost, options: ChooserOptions = {}) {
    checkForcedVariants(options.force ?? {});
    this.choices = options.choices ?? new KernelChoices();
    this.trialsEnabled = options.trials ?? true;
    this.#force = { ...options.force };
    this.#onChanged = options.onChoicesChanged;
    this.#trialMillis = options.trialMillis ?? 5;
  }

  /** The variant forced for `family`, if any. */
  forced(family: KernelFamily): string | undefined {
    return this.#force[family];
  }

  /** Forces `variant` for `family` (undefined: measure again). Benchmarks and tests. */
  force(family: KernelFamily, variant: string | undefined): void {
    checkForcedVariants({ [family]: variant });
    this.#force[family] = variant;
  }

  /** Shape classes waiting for their trial. */
  get pendingTrials(): number {
    return this.#pending.size;
  }

  /** The variant to record for this call. */
  choose<V extends string>(request: ChoiceRequest<V>): V {
    const variant = this.#pick(request);
    const name = `${request.family}/${variant}`;
    this.launches.set(name, (this.launches.get(name) ?? 0) + 1);
    return variant;
  }

  #pick<V extends string>(request: ChoiceRequest<V>): V {
    const { candidates } = request;
    const forced = this.#force[request.family] as V | undefined;
    if (forced !== undefined && candidates.includes(forced)) return forced;
    if (candidates.length === 1) return candidates[0];
    const key = `${request.family} ${request.shapeClass}`;
    const entry = this.choices.get(this.host.adapterKey, key);
    if (entry) {
      if (candidates.includes(entry.variant as V)) return entry.variant as V;
      // The class's winner cannot run this call (say, a weight held only as a texture):
      // the fastest of those that can, by the same trial.
      const timed = candidates.filter((v) => entry.millis[v] !== undefined);
      timed.sort((a, b) => entry.millis[a] - entry.millis[b]);
      return timed[0] ?? candidates[0];
    }
    if (this.trialsEnabled && !this.#pending.has(key)) {
      this.#pending.set(key, request as unknown as ChoiceRequest<string>);
    }
    return candidates[0];
  }

  /** Runs the queued trials (Gpu.sync calls this once the queue is idle). */
  async runPending(): Promise<void> {
    if (this.#pending.size === 0) return;
    const pending = [...this.#pending];
    this.#pending.clear();
    await this.host.withoutCapture(async () => {
      for (const [key, request] of pending) {
        if (this.choices.get(this.host.adapterKey, key)) continue;
        const entry = await this.#trial(request);
        this.choices.set(this.host.adapterKey, key, entry);
        this.trialsRun++;
      }
    });
    await this.#onChanged?.(this.choices);
  }

  async #trial(request: ChoiceRequest<string>): Promise<KernelChoiceEntry> {
    const variants = request.trialVariants ?? request.candidates;
    const trial = request.trial();
    const millis: Record<string, number> = {};
    try {
      let best = Infinity;
      for (const variant of variants) {
        let ms = Infinity;
        // A variant that fails on this adapter (a limit, a compiler bug) is left out, so a
        // trial never breaks a run that the fixed default would have finished.
        const failure = await this.host.failureOf(async () => {
          ms = await this.#time(trial, variant, best);
        });
        if (failure !== null) continue;
        millis[variant] = ms;
        best = Math.min(best, ms);
      }
    } finally {
      trial.dispose();
      this.host.flush();
    }
    const fallback = request.candidates[0];
    const time = (v: string) => millis[v] ?? Infinity;
    let variant = fallback;
    for (const v of variants) {
      const margin = time(variant) * (variant === fallback ? 1 - DEFAULT_MARGIN : 1);
      if (time(v) < margin) variant = v;
    }
    return { variant, millis };
  }

  /** Milliseconds per launch: a warm-up launch, then the best of two timed rounds. */
  async #time(trial: KernelTrial<string>, variant: string, best: number): Promise<number> {
    const run = async (launches: number) => {
      const started = performance.now();
      for (let i = 0; i < launches; i++) trial.launch(variant);
      this.host.flush();
      await this.host.workDone();
      return (performance.now() - started) / launches;
    };
    await run(1); // compiles the pipeline, packs textures, touches the memory
    const first = await run(1);
    if (first > CUT_SHORT * best) return first;
    const repeats = Math.max(1, Math.min(MAX_REPEATS, Math.ceil(this.#trialMillis / first)));
    let fastest = first;
    for (let round = 0; round < ROUNDS; round++) fastest = Math.min(fastest, await run(repeats));
    return fastest;
  }
}
