/**
 * A port of ftfy 6.3.1's `fix_text` with its default configuration (`TextFixerConfig()`), the
 * text repair PixArt's caption cleaning runs.
 *
 * Ported, in ftfy's order, repeated on each line until nothing changes:
 * - `unescape_html` ("auto": skipped from the first line that holds a "<" on, as ftfy does);
 * - `fix_encoding`: mojibake repair by re-encoding with latin-1, sloppy windows-1252/1251/1250/
 *   1253/1254/1257, iso-8859-2, macroman or cp437 and decoding as UTF-8 (or utf-8-variants),
 *   with `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`, the
 *   latin-1 → windows-1252 fallback and `fix_c1_controls`, steered by the `is_bad` heuristic;
 * - `fix_c1_controls`, `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`,
 *   `fix_line_breaks`, `fix_surrogates`, `remove_terminal_escapes`, `remove_control_chars`;
 * - NFC normalization (with Python 3.11's Unicode 14 data, see `python_text.ts`).
 *
 * Not ported: the non-default options (fix_text always runs as configured by default here), the
 * explanations / `apply_plan` machinery, and the functions `fix_text` does not call
 * (`decode_escapes`, `guess_bytes`, `fix_file`, `explain_unicode`...). One behaviour cannot carry
 * over: a Python string may hold a surrogate pair as two separate code points, a JavaScript one
 * cannot, so the pairs that `fix_surrogates` would join are already joined here.
 */

import {
  canEncode,
  CHARMAP_ENCODINGS,
  decodeBytes,
  decodeUtf8,
  decodeUtf8Variants,
  encodeBytes,
} from "./byte_codecs.ts";
import {
  fixC1Controls,
  fixCharacterWidth,
  fixLatinLigatures,
  fixLineBreaks,
  fixSurrogates,
  hasAlteredUtf8,
  removeControlChars,
  removeTerminalEscapes,
  replaceLossySequences,
  restoreByteA0,
  uncurlQuotes,
  unescapeHtml,
} from "./ftfy_fixes.ts";
import { isBad, UTF8_DETECTOR } from "./mojibake_heuristics.ts";
import { pyNfc } from "./python_text.ts";

/** ftfy's `max_decode_length`: lines longer than this (in code points) are fixed in pieces. */
const MAX_DECODE_LENGTH = 1_000_000;

/**
 * `decode_inconsistent_utf8`: repairs the runs that look like UTF-8 mojibake one by one, for
 * text mixing mojibake with correct characters (a run as long as the whole text is left alone,
 * which keeps the recursion finite).
 */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR, (run) => {
    return run.length < text.length && isBad(run) ? fixEncoding(run) : run;
  });
}

/** One step of `fix_encoding`: the text decoded one layer further, or itself when it looks fine. */
function fixEncodingStep(text: string): string {
  // deno-lint-ignore no-control-regex -- "is it all ASCII", controls included
  if (text.length === 0 || /^[\x00-\x7f]*$/.test(text) || !isBad(text)) return text;
  let latin1 = false;
  for (const encoding of CHARMAP_ENCODINGS) {
    if (!canEncode(text, encoding)) continue;
    if (encoding === "latin-1") latin1 = true;
    let bytes = encodeBytes(text, encoding);
    // macroman is left out: an en dash followed by a space would match there.
    if (encoding !== "macroman" && hasAlteredUtf8(bytes)) bytes = restoreByteA0(bytes);
    if (encoding.startsWith("sloppy-")) bytes = replaceLossySequences(bytes);
    const fixed = bytes.includes("\xed") || bytes.includes("\xc0")
      ? decodeUtf8Variants(bytes)
      : decodeUtf8(bytes);
    if (fixed !== null) return fixed;
  }
  if (text.search(UTF8_DETECTOR) >= 0) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // Text that fits latin-1 (never windows-1252 too: ftfy's list only holds the sloppy one) is
  // taken as windows-1252 read as latin-1, when that decodes strictly.
  if (latin1) {
    const fixed = decodeBytes(encodeBytes(text, "latin-1"), "windows-1252");
    if (fixed !== null && fixed !== text) return fixed;
  }
  if (/[\x80-\x9f]/.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy's `fix_encoding`: undoes mojibake layer by layer until the text stops changing. */
export function fixEncoding(text: string): string {
  while (true) {
    const fixed = fixEncodingStep(text);
    if (fixed === text) return text;
    text = fixed;
  }
}

const FIXERS: ((text: string) => string)[] = [
  fixC1Controls,
  fixLatinLigatures,
  fixCharacterWidth,
  uncurlQuotes,
  fixLineBreaks,
  fixSurrogates,
  removeTerminalEscapes,
  removeControlChars,
];

/** ftfy's `fix_and_explain` on one segment: every fix, repeated until a pass changes nothing. */
function fixSegment(text: string, unescape: boolean): string {
  while (true) {
    const original = text;
    if (unescape) text = unescapeHtml(text);
    text = fixEncoding(text);
    for (const fixer of FIXERS) text = fixer(text);
    text = pyNfc(text);
    if (text === original) return text;
  }
}

/**
 * ftfy's `fix_text(text)` with the default configuration: fixes each line (each segment ends
 * after a "\n", or after `MAX_DECODE_LENGTH` code points) on its own. HTML unescaping is "auto":
 * once a segment contains "<" (real HTML, whose entities must stay), it stays off for the rest.
 */
export function fixText(text: string): string {
  const chars = Array.from(text);
  let unescape = true;
  let out = "";
  let pos = 0;
  while (pos < chars.length) {
    let end = chars.indexOf("\n", pos) + 1;
    if (end === 0) end = chars.length;
    if (end - pos > MAX_DECODE_LENGTH) end = pos + MAX_DECODE_LENGTH;
    const segment = chars.slice(pos, end).join("");
    if (segment.includes("<")) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}
