/**
 * SentencePiece's precompiled character map (the `precompiled_charsmap` of a normalizer spec,
 * also carried base64-encoded by Hugging Face's `Precompiled` normalizer) and the whitespace
 * handling sentencepiece applies around it.
 *
 * Blob layout: uint32 LE byte size of the trie, the trie as a Darts-clone double array of
 * uint32 LE units keyed by UTF-8 bytes, then a pool of NUL-terminated replacement strings that
 * the trie's values point into. T5's `nmt_nfkc` map is NFKC plus extra rules (zero-width
 * characters to space, control characters deleted...), so `String.prototype.normalize` is not
 * a substitute: the table is the specification.
 */

import { CheckpointError } from "../errors.ts";

const SPACE = 0x20;
/** U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's visible stand-in for a space. */
export const SPACE_SYMBOL = "\u2581";
const SPACE_SYMBOL_BYTES = [0xe2, 0x96, 0x81];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Byte length of the UTF-8 character starting with `lead` (input comes from TextEncoder). */
function utf8Length(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

/** A rule that matched at some position: how many input bytes it consumes, what replaces them. */
interface CharsmapMatch {
  length: number;
  replacement: Uint8Array;
}

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly pool: Uint8Array;
  private readonly replacements = new Map<number, Uint8Array>();

  /** `source` names the file and field in error messages. */
  constructor(blob: Uint8Array, private readonly source: string) {
    if (blob.length < 4) {
      throw new CheckpointError(
        `${source}: ${blob.length} bytes, expected at least a 4-byte header`,
      );
    }
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes === 0 || trieBytes % 4 !== 0 || 4 + trieBytes > blob.length) {
      throw new CheckpointError(
        `${source}: trie size ${trieBytes} bytes does not fit a ${blob.length}-byte blob ` +
          `(expected a positive multiple of 4 at most ${blob.length - 4})`,
      );
    }
    // Copied rather than viewed: the blob may sit at an offset that is not 4-byte aligned.
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.pool = blob.subarray(4 + trieBytes);
  }

  private unit(index: number): number {
    if (index >= this.units.length) {
      throw new CheckpointError(
        `${this.source}: trie unit ${index} out of range (${this.units.length} units)`,
      );
    }
    return this.units[index];
  }

  /** Darts-clone unit fields: a unit packs a label, a has-leaf bit and a child offset. */
  private static offset(unit: number): number {
    return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
  }

  private replacement(value: number): Uint8Array {
    let out = this.replacements.get(value);
    if (out) return out;
    const end = this.pool.indexOf(0, value);
    if (value >= this.pool.length || end < 0) {
      throw new CheckpointError(
        `${this.source}: replacement offset ${value} has no NUL-terminated string in the ` +
          `${this.pool.length}-byte pool`,
      );
    }
    out = this.pool.subarray(value, end);
    this.replacements.set(value, out);
    return out;
  }

  /**
   * The longest rule whose key is a prefix of `bytes[start..]`, as sentencepiece's
   * `NormalizePrefix` picks it (common-prefix search, longest wins).
   */
  longestMatch(bytes: Uint8Array, start: number): CharsmapMatch | undefined {
    let nodePos = PrecompiledCharsmap.offset(this.unit(0));
    let bestLength = 0;
    let bestValue = 0;
    for (let i = start; i < bytes.length; i++) {
      const byte = bytes[i];
      nodePos ^= byte;
      const unit = this.unit(nodePos);
      // The label keeps the leaf flag (bit 31) so a value unit never matches a byte.
      if ((unit & 0x800000ff) >>> 0 !== byte) break;
      nodePos ^= PrecompiledCharsmap.offset(unit);
      if ((unit >>> 8) & 1) {
        bestLength = i + 1 - start;
        bestValue = this.unit(nodePos) & 0x7fffffff;
      }
    }
    if (bestLength === 0) return undefined;
    return { length: bestLength, replacement: this.replacement(bestValue) };
  }

  /**
   * Calls `emit` once per normalization step over the UTF-8 bytes of `text`: the longest rule
   * at the position, or else one whole character unchanged.
   */
  forEachStep(text: string, emit: (replacement: Uint8Array) => void): void {
    const bytes = encoder.encode(text);
    let pos = 0;
    while (pos < bytes.length) {
      const match = this.longestMatch(bytes, pos);
      if (match) {
        emit(match.replacement);
        pos += match.length;
      } else {
        const length = Math.min(utf8Length(bytes[pos]), bytes.length - pos);
        emit(bytes.subarray(pos, pos + length));
        pos += length;
      }
    }
  }

  /** The charsmap alone (Hugging Face's `Precompiled` normalizer, without whitespace rules). */
  apply(text: string): string {
    const out = new ByteBuilder();
    this.forEachStep(text, (replacement) => out.push(replacement));
    return out.toString();
  }
}

/** A growable byte buffer, so normalization works on UTF-8 bytes as sentencepiece does. */
class ByteBuilder {
  private bytes = new Uint8Array(64);
  length = 0;

  pushByte(byte: number): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = byte;
  }

  push(chunk: ArrayLike<number>): void {
    for (let i = 0; i < chunk.length; i++) this.pushByte(chunk[i]);
  }

  endsWith(suffix: readonly number[]): boolean {
    if (this.length < suffix.length) return false;
    const start = this.length - suffix.length;
    return suffix.every((byte, i) => this.bytes[start + i] === byte);
  }

  toString(): string {
    return decoder.decode(this.bytes.subarray(0, this.length));
  }
}

/** The normalizer-spec switches that act around the charsmap. */
export interface WhitespaceOptions {
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/**
 * sentencepiece's `Normalizer::Normalize`: the charsmap (identity when absent), then the
 * whitespace rules. Spaces are collapsed per replacement string — only the leading spaces of a
 * replacement that follows a space are dropped — which is why this cannot be a regex pass over
 * the charsmap's output.
 */
export function normalizeSentencePiece(
  text: string,
  charsmap: PrecompiledCharsmap | undefined,
  options: WhitespaceOptions,
): string {
  const steps: Uint8Array[] = [];
  if (charsmap) {
    charsmap.forEachStep(text, (replacement) => steps.push(replacement));
  } else {
    const bytes = encoder.encode(text);
    for (let pos = 0; pos < bytes.length;) {
      const length = Math.min(utf8Length(bytes[pos]), bytes.length - pos);
      steps.push(bytes.subarray(pos, pos + length));
      pos += length;
    }
  }
  let first = 0;
  if (options.removeExtraWhitespaces) {
    // Only a step that is exactly one space counts as leading whitespace, as upstream.
    while (first < steps.length && steps[first].length === 1 && steps[first][0] === SPACE) {
      first++;
    }
  }
  if (first === steps.length) return "";

  const out = new ByteBuilder();
  const space = options.escapeWhitespaces ? SPACE_SYMBOL_BYTES : [SPACE];
  if (options.addDummyPrefix) out.push(space);
  let prevIsSpace = options.removeExtraWhitespaces;
  for (let s = first; s < steps.length; s++) {
    const step = steps[s];
    let i = 0;
    if (prevIsSpace) { while (i < step.length && step[i] === SPACE) i++; }
    if (i < step.length) {
      for (; i < step.length; i++) {
        if (step[i] === SPACE) out.push(space);
        else out.pushByte(step[i]);
      }
      prevIsSpace = step[step.length - 1] === SPACE;
    }
    if (!options.removeExtraWhitespaces) prevIsSpace = false;
  }
  if (options.removeExtraWhitespaces) {
    while (out.endsWith(space)) out.length -= space.length;
  }
  return out.toString();
}
