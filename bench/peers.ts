/**
 * What the scripts that time ours beside a Python peer share: running the peer script and
 * reading its result, and averaging per-round speed ratios.
 */

/**
 * Runs `bench/<script>` with `python` and returns the JSON value of its last stdout line; a
 * failing script throws with its stderr.
 */
export async function runPeerScript<Result>(
  python: string,
  script: string,
  args: string[],
): Promise<Result> {
  const path = new URL(`./${script}`, import.meta.url).pathname;
  const output = await new Deno.Command(python, {
    args: [path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`${script} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
}

/** The geometric mean of speed ratios (the mean that treats 2× and 0.5× alike). */
export function geometricMean(ratios: readonly number[]): number {
  return Math.exp(ratios.reduce((sum, r) => sum + Math.log(r), 0) / ratios.length);
}
