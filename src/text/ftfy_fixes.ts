/**
 * The individual fixers of ftfy 6.3.1 (`ftfy.fixes`) that `fix_text` applies with its default
 * configuration, plus the two byte-level transcoders its encoding repair uses. Each follows the
 * documented behaviour of its ftfy namesake; `fix_text.ts` strings them together.
 */

import { decodeBytes } from "./byte_codecs.ts";
import { htmlUnescape, namedReferences } from "./html_entities.ts";
import { PY_D, pyRegex } from "./python_text.ts";

let entities: Map<string, string> | null = null;

/**
 * ftfy's entity table (`chardata.HTML_ENTITIES`): every HTML5 "&name;", plus the all-caps
 * spelling of the lower-case names ("&EACUTE;" → "É") where that spelling is not itself a
 * reference `html.unescape` would decode (so "&LTIMES;", which starts with "&LT", is left out).
 */
function entityTable(): Map<string, string> {
  if (entities !== null) return entities;
  entities = new Map();
  for (const [name, text] of namedReferences()) {
    entities.set(`&${name};`, text);
    if (name === name.toLowerCase()) {
      const upper = `&${name.toUpperCase()};`;
      if (htmlUnescape(upper) === upper) entities.set(upper, text.toUpperCase());
    }
  }
  return entities;
}

const ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/**
 * `unescape_html`: decodes only references that end in ";" (so "this&not that" survives), named
 * ones from ftfy's table and numeric ones as `html.unescape` does them.
 */
export function unescapeHtml(text: string): string {
  return text.replace(ENTITY, (match) => {
    const named = entityTable().get(match);
    if (named !== undefined) return named;
    if (match.startsWith("&#")) {
      const decoded = htmlUnescape(match);
      // A reference html.unescape only partly consumed is left as it was.
      return decoded.includes(";") ? match : decoded;
    }
    return match;
  });
}

const ANSI_ESCAPE = pyRegex(`\\x1b\\[(?:${PY_D}|;)*[a-zA-Z]`, "g");

/** `remove_terminal_escapes`: drops ANSI colour/cursor sequences such as "\x1b[36;44m". */
export function removeTerminalEscapes(text: string): string {
  return text.replace(ANSI_ESCAPE, "");
}

/** `uncurl_quotes`: curly double quotes → '"', curly single quotes and ʼ → "'". */
export function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

/**
 * Latin ligatures and legacy digraphs ftfy splits (`chardata.LIGATURES`); ligatures such as æ
 * that are written on purpose are not in it.
 */
const LIGATURES: Record<string, string> = {
  "Ĳ": "IJ",
  "ĳ": "ij",
  "ŉ": "ʼn",
  "Ǳ": "DZ",
  "ǲ": "Dz",
  "ǳ": "dz",
  "Ǆ": "DŽ",
  "ǅ": "Dž",
  "ǆ": "dž",
  "Ǉ": "LJ",
  "ǈ": "Lj",
  "ǉ": "lj",
  "Ǌ": "NJ",
  "ǋ": "Nj",
  "ǌ": "nj",
  "ﬀ": "ff",
  "ﬁ": "fi",
  "ﬂ": "fl",
  "ﬃ": "ffi",
  "ﬄ": "ffl",
  "ﬅ": "ſt",
  "ﬆ": "st",
};
const LIGATURE = new RegExp(`[${Object.keys(LIGATURES).join("")}]`, "g");

/** `fix_latin_ligatures`: "ﬂuﬃeﬆ" → "fluffiest". */
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE, (char) => LIGATURES[char]);
}

let widthMap: Map<string, string> | null = null;

/**
 * ftfy's `WIDTH_MAP`: U+3000 → space, and each halfwidth/fullwidth form (U+FF01–U+FFEF) whose
 * NFKC form differs → that form (a block whose normalization no Unicode version has changed).
 */
function widthTable(): Map<string, string> {
  if (widthMap !== null) return widthMap;
  widthMap = new Map([["\u3000", " "]]);
  for (let code = 0xff01; code < 0xfff0; code++) {
    const char = String.fromCharCode(code);
    const normal = char.normalize("NFKC");
    if (normal !== char) widthMap.set(char, normal);
  }
  return widthMap;
}

/** `fix_character_width`: "ＬＯＵＤ" → "LOUD", the ideographic space → " ", "ｶ" → "カ". */
export function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (char) => widthTable().get(char) ?? char);
}

/** `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and NEL (U+0085) → "\n". */
export function fixLineBreaks(text: string): string {
  return text.replaceAll("\r\n", "\n").replace(/[\r\u2028\u2029\u0085]/g, "\n");
}

/**
 * `fix_surrogates`: Python strings can hold a surrogate pair as two code points, which ftfy
 * joins; a JavaScript string already reads a valid pair as one character, so only the lone
 * surrogates are left to become U+FFFD, as ftfy makes them.
 */
export function fixSurrogates(text: string): string {
  return text.replace(/\p{Cs}/gu, "\ufffd");
}

/**
 * `remove_control_chars`: C0 controls other than \t \n \f \r, DEL, the deprecated Arabic format
 * controls U+206A–U+206F, U+FEFF and U+FFF9–U+FFFC. C1 controls stay (clues to mojibake).
 */
export function removeControlChars(text: string): string {
  // deno-lint-ignore no-control-regex -- matching control characters is the point here
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, "");
}

/** `fix_c1_controls`: C1 controls → their Windows-1252 characters, as browsers read them. */
export function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (char) => decodeBytes(char, "sloppy-windows-1252")!);
}

/** Byte-level `ALTERED_UTF8_RE`: UTF-8 sequences whose byte A0 has become a space. */
const ALTERED_UTF8 = new RegExp(
  [
    "[\\xc2\\xc3\\xc5\\xce\\xd0\\xd9] ",
    "[\\xe2\\xe3] [\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf]",
    "[\\xe0-\\xe3][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf] ",
    "\\xf0 [\\x80-\\xbf][\\x80-\\xbf]",
    "\\xf0[\\x80-\\xbf] [\\x80-\\xbf]",
    "\\xf0[\\x80-\\xbf][\\x80-\\xbf] ",
  ].join("|"),
  "g",
);

/** Whether a byte string holds a UTF-8 sequence with a space for its byte A0. */
export function hasAlteredUtf8(bytes: string): boolean {
  return bytes.search(ALTERED_UTF8) >= 0;
}

/**
 * `restore_byte_a0` on a byte string: puts back the A0 byte where a space broke a UTF-8
 * sequence. "Ã " followed by a word becomes "à " plus the space (French "à la"), except before
 * the Portuguese "às", "àquele", "àquela", "àquilo".
 */
export function restoreByteA0(bytes: string): string {
  return bytes
    .replace(/\xc3 (?! |quele|quela|quilo|s )/g, "\xc3\xa0 ")
    .replace(ALTERED_UTF8, (match) => match.replaceAll(" ", "\xa0"));
}

const LOSSY_UTF8 = new RegExp(
  [
    "[\\xc2-\\xdf]\\x1a",
    "[\\xc2-\\xc3]\\?",
    "\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]",
    "\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]",
    "[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]",
    "[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]",
    "[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]",
    "[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]",
    "[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]",
    "\\x1a",
  ].join("|"),
  "g",
);

/**
 * `replace_lossy_sequences` on a byte string: UTF-8 sequences in which a sloppy codec had to
 * write byte 1A for a "�" (or that hold a "?" for one) become the UTF-8 bytes of "�".
 */
export function replaceLossySequences(bytes: string): string {
  return bytes.replace(LOSSY_UTF8, "\xef\xbf\xbd");
}
