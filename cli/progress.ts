/** A one-line progress bar on stderr with rate and ETA. */

const encoder = new TextEncoder();

export class ProgressBar {
  #started = performance.now();
  #isTerminal: boolean;
  #lastLength = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = "steps",
  ) {
    this.#isTerminal = Deno.stderr.isTerminal();
  }

  update(done: number, extra = ""): void {
    const elapsed = (performance.now() - this.#started) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? (this.total - done) / rate : NaN;
    const width = 24;
    const filled = Math.round((done / this.total) * width);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const etaText = Number.isFinite(eta) ? `ETA ${formatSeconds(eta)}` : "";
    const line = `${this.label} [${bar}] ${done}/${this.total} ${this.unit} ` +
      `${rate.toFixed(2)} ${this.unit}/s ${etaText} ${extra}`.trimEnd();
    if (this.#isTerminal) {
      const pad = " ".repeat(Math.max(0, this.#lastLength - line.length));
      Deno.stderr.writeSync(encoder.encode(`\r${line}${pad}`));
      this.#lastLength = line.length;
    } else {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    }
  }

  done(): void {
    if (this.#isTerminal) Deno.stderr.writeSync(encoder.encode("\n"));
  }
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Math.round(seconds - minutes * 60).toString().padStart(2, "0")}s`;
}

/**
 * The two bars of a generation: sampling steps, then decoding. Each bar starts on first use,
 * and the sampling bar's line ends before the decoding bar starts its own.
 */
export class GenerationProgress {
  #sampling: ProgressBar | null = null;
  #decoding: ProgressBar | null = null;

  constructor(
    private readonly samplingLabel: string,
    private readonly decodedUnit: string,
  ) {}

  /** Step `done` (1-based) of `total`. */
  step = (done: number, total: number): void => {
    this.#sampling ??= new ProgressBar(this.samplingLabel, total);
    this.#sampling.update(done);
  };

  /** A pipeline's `onStep` report: step `step` (0-based) of `total` is done. */
  onStep = (step: number, total: number): void => this.step(step + 1, total);

  /** Decoded item `done` of `total`. */
  decoded = (done: number, total: number): void => {
    if (!this.#decoding) {
      this.#sampling?.done();
      this.#sampling = null;
      this.#decoding = new ProgressBar("decoding", total, this.decodedUnit);
    }
    this.#decoding.update(done);
  };

  done(): void {
    this.#sampling?.done();
    this.#decoding?.done();
  }
}
