/**
 * Python 3.11's `urllib.parse.unquote_plus`, which PixArt's caption cleaning applies first.
 */

import { decodeUtf8Replacing } from "./byte_codecs.ts";

/**
 * `unquote_to_bytes` on an ASCII run, as a byte string (an ASCII run is its own UTF-8): each "%"
 * followed by two hex digits is that byte; any other "%" stays literal.
 */
function unquoteBytes(run: string): string {
  const bits = run.split("%");
  let out = bits[0];
  for (const item of bits.slice(1)) {
    out += /^[0-9a-fA-F]{2}/.test(item)
      ? String.fromCharCode(parseInt(item.slice(0, 2), 16)) + item.slice(2)
      : "%" + item;
  }
  return out;
}

/**
 * `unquote_plus(text)`: "+" → " ", then "%XX" escapes decoded as UTF-8 with invalid bytes
 * replaced by U+FFFD. As in Python, only runs of ASCII characters are decoded, each on its own,
 * so an escape sequence cut by a non-ASCII character does not join across it.
 */
export function unquotePlus(text: string): string {
  text = text.replaceAll("+", " ");
  if (!text.includes("%")) return text;
  // deno-lint-ignore no-control-regex -- the ASCII runs, controls included, as Python splits them
  return text.replace(/[\x00-\x7f]+/g, (run) => decodeUtf8Replacing(unquoteBytes(run)));
}
