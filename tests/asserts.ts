/** The error assertions the tests share beyond helpers.ts (no std import: no jsr deps). */

import { ok } from "node:assert/strict";

/** Asserts `fn` throws an instance of `type` whose message contains `fragment`. */
export function assertThrows(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  fragment: string,
): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof type)) {
      throw new Error(`expected ${type.name}, got ${error}`);
    }
    if (!error.message.includes(fragment)) {
      throw new Error(`expected a message containing "${fragment}", got "${error.message}"`);
    }
    return;
  }
  throw new Error(`expected ${type.name} containing "${fragment}", nothing was thrown`);
}

/**
 * Asserts `run` rejects (or throws) an instance of `type` whose message contains every string
 * and matches every pattern given.
 */
export async function assertRejects(
  run: () => unknown,
  type: new (...args: never[]) => Error,
  ...expected: (string | RegExp)[]
): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${error}`);
    for (const e of expected) {
      const found = typeof e === "string" ? error.message.includes(e) : e.test(error.message);
      if (!found) throw new Error(`expected ${type.name} with ${e}, got "${error.message}"`);
    }
    return;
  }
  throw new Error(`expected ${type.name} (${expected.join(", ")}), nothing was thrown`);
}

/**
 * A validator for node:assert's `throws`/`rejects`: the error is an instance of `type` whose
 * message contains every string and matches every pattern given.
 */
export function errorNaming(
  type: new (...args: never[]) => Error,
  ...fragments: (string | RegExp)[]
): (e: unknown) => boolean {
  return (e) => {
    ok(e instanceof type, `expected ${type.name}, got ${e}`);
    for (const f of fragments) {
      const hit = typeof f === "string" ? e.message.includes(f) : f.test(e.message);
      ok(hit, `"${e.message}" should mention ${f}`);
    }
    return true;
  };
}
