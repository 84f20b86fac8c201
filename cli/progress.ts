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
