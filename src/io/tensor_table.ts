/** The name lookup the TensorSources share: a table from tensor name to what holds the tensor. */

import { CheckpointError } from "../errors.ts";

export abstract class TensorTable<Entry> {
  /** The file, URL or label the tensors come from (named in errors). */
  abstract readonly path: string;
  readonly #entries: ReadonlyMap<string, Entry>;

  protected constructor(
    entries: ReadonlyMap<string, Entry>,
    /** What a missing name's error says after the path. */
    private readonly missing: (name: string) => string = (name) => `no tensor named "${name}"`,
  ) {
    this.#entries = entries;
  }

  names(): string[] {
    return [...this.#entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** What holds tensor `name`; a name not in the table is a CheckpointError. */
  protected entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (!entry) throw new CheckpointError(`${this.path}: ${this.missing(name)}`);
    return entry;
  }
}
