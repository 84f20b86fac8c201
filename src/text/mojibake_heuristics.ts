/**
 * ftfy 6.3.1's mojibake detectors: the "badness" heuristic (`ftfy.badness.is_bad`), which decides
 * whether text looks like UTF-8 decoded in the wrong single-byte encoding, and the detector of
 * embedded UTF-8 mojibake (`chardata.UTF8_DETECTOR_RE`) used to repair pieces of mixed text.
 *
 * The character categories are ftfy's (the few hundred characters that UTF-8 mojibake in its
 * supported encodings is made of); the patterns combining them follow `BADNESS_RE`. Python's
 * Unicode `\s`, `\w` and `.` are spelled out with the fragments of `python_text.ts`.
 */

import { decodeBytes } from "./byte_codecs.ts";
import { PY_S, PY_W, pyRegex } from "./python_text.ts";

/** Character class bodies (v-flag syntax: raw characters and ranges), by ftfy's category names. */
const CAT = {
  // Appear in many contexts; sequences containing them are not mojibake by themselves.
  common: "\u00a0\u00ad·´–—―…’",
  c1: "\\x80-\\x9f",
  // Nearly only ever seen in mojibake.
  bad: "¦¤¨¬¯¸ƒˆˇ˘˛˜†‡‰⌐◊\ufffdªº",
  law: "¶§",
  currency: "¢£¥₧€",
  start: "¡«¿©΄΅‘‚“„•‹\uf8ff",
  end: "®»˝”›™",
  numeric: "²³¹±¼½¾×µ÷⁄∂∆∏∑√∞∩∫≈≠≡≤≥№",
  // Letters that emoticons (kaomoji) use, so they may legitimately sit in odd company.
  kaomoji: "Ò-ÖÙ-Üò-öø-üŐŌŪŲ°",
  upperAccented: "À-ÑØÜÝĂĀĄĆČĎĐĘĚĒĖĞĢİĪĶĹĽŁĻŃŇŅŒŘŚŞŠŢŤŮŰŸŹŻŽҐ",
  lowerAccented: "ßà-ñăąāćčďđęěēėğģįīķĺľłļœŕśşšťüźżžґﬁﬂ",
  upperCommon: "ÞΑ-ΩΆΈΉΊΌΎΏΪΫЁ-Я",
  lowerCommon: "α-ωάέήίΰа-џ",
  box: "│┌┐┘├┤┬┼═-╬▀▄█▌▐░▒▓",
};

/** A class made of category bodies and extra raw characters. */
function cls(...parts: string[]): string {
  return `[${parts.join("")}]`;
}

const {
  common,
  c1,
  bad,
  law,
  currency,
  start,
  end,
  numeric,
  kaomoji,
  upperAccented: ua,
  lowerAccented: la,
  upperCommon,
  lowerCommon,
  box,
} = CAT;
const ARABIC_FOLLOWER = cls(common, currency, bad, numeric, start, "ŸŠ®°µ»");

/** Unlikely juxtapositions of characters (`BADNESS_RE`), one alternative per line. */
const BADNESS = pyRegex(
  [
    cls(c1),
    cls(bad, la, ua, box, start, end, currency, numeric, law) + cls(bad),
    `[a-zA-Z]${cls(lowerCommon, upperCommon)}${cls(bad)}`,
    cls(bad) + cls(la, ua, box, start, end, currency, numeric, law),
    cls(la, lowerCommon, box, end, currency, numeric) + cls(ua),
    cls(box, end, currency, numeric) + cls(la),
    cls(la, box, end) + cls(currency),
    PY_S + cls(ua) + cls(currency),
    cls(ua, box) + cls(numeric, law),
    cls(la, ua, box, currency, end) + cls(start) + cls(numeric),
    cls(la, ua, currency, numeric, box, law) + cls(end) + cls(start),
    cls(currency, numeric, box) + cls(start),
    `[a-z]${cls(ua)}${cls(start, currency)}`,
    cls(box) + cls(kaomoji),
    cls(la, ua, currency, numeric, start, end, law) + cls(box),
    cls(box) + cls(end),
    cls(la, ua) + cls(start, end) + PY_W,
    // The ligature œ when not followed by an unaccented Latin letter.
    "[Œœ][^A-Za-z]",
    // Degree signs after capital letters.
    `${cls(ua)}°`,
    // Common Windows-1252 2-character mojibake the cases above miss.
    `[ÂÃÎÐ]${cls("€œŠš¢£Ÿž\u00a0\u00ad®©°·»", start, end, "–—´")}`,
    "×[²³]",
    // Windows-1252 mojibake of Arabic words: four characters, since they include 'common' ones.
    `[ØÙ]${ARABIC_FOLLOWER}[ØÙ]${ARABIC_FOLLOWER}`,
    // Windows-1252 mojibake starting 3-byte sequences of some South Asian scripts.
    "à[²µ¹¼½¾]",
    // MacRoman mojibake.
    "√[±∂†≠®™´≤≥¥µø]",
    "≈[°¢]",
    "‚Ä[ìîïòôúùû†°¢π]",
    "‚[âó][àä°ê]",
    // Windows-1251 mojibake of U+2000-range characters, of Latin-1 / Cyrillic, and of both.
    "вЂ",
    `[ВГРС]${cls(c1, bad, start, end, currency, "°µ")}[ВГРС]`,
    "ГўВЂВ[^\\n][A-Za-z ]",
    // Windows-1252 encodings of à and á, and of U+00A0 itself.
    "Ã[\u00a0¡]",
    `[a-z]${PY_S}?[ÃÂ][ ]`,
    "^[ÃÂ][ ]",
    // Â before a common character that it encodes as itself.
    `${cls("a-z\\.\\,\\?\\!", end)}Â${cls(" ", start, end)}`,
    // Windows-1253 mojibake of U+2000-range characters, and of Latin-1 / Greek.
    "β€[™\u00a0Ά\u00ad®°]",
    `[ΒΓΞΟ]${cls(c1, bad, start, end, currency, "°")}[ΒΓΞΟ]`,
    // Windows-1257 mojibake of U+2000-range characters.
    "ā€",
  ].join("|"),
);

/** ftfy's `is_bad`: does the text contain a sequence that is very likely mojibake? */
export function isBad(text: string): boolean {
  return BADNESS.test(text);
}

/**
 * The encodings whose bytes the UTF-8 clue classes below are read from (ftfy's
 * `scripts/char_data_table.py` SAFE_ENCODINGS): strict, so undefined bytes add nothing.
 */
const CLUE_ENCODINGS = [
  "latin-1",
  "windows-1252",
  "windows-1251",
  "windows-1250",
  "windows-1253",
  "windows-1254",
  "windows-1257",
];

/** The characters the clue encodings decode the given bytes to, as a class body. */
function charsOfBytes(bytes: number[], skip = ""): string {
  const chars = new Set<string>();
  for (const encoding of CLUE_ENCODINGS) {
    for (const byte of bytes) {
      const char = decodeBytes(String.fromCharCode(byte), encoding);
      if (char !== null && !skip.includes(char)) chars.add(char);
    }
  }
  return [...chars].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join("");
}

function byteRange(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

// Characters that stand for a UTF-8 lead byte of a 2-, 3- or 4-byte sequence (ftfy keeps only
// F0 and F3 for the last: other lead bytes lead to unassigned or rare planes), and for a
// continuation byte. A space may stand for a continuation byte A0 (a no-break space flattened);
// the "strict" continuations leave out spaces, dashes, quotes, bullets and ellipses, which
// also occur next to mojibake as themselves.
const FIRST_OF_2 = `[${charsOfBytes(byteRange(0xc2, 0xdf))}]`;
const FIRST_OF_3 = `[${charsOfBytes(byteRange(0xe0, 0xef))}]`;
const FIRST_OF_4 = `[${charsOfBytes([0xf0, 0xf3])}]`;
const CONTINUATION = `[\\x80-\\xbf ${charsOfBytes(byteRange(0x80, 0xbf))}]`;
const CONTINUATION_STRICT = `[\\x80-\\xbf${charsOfBytes(byteRange(0x80, 0xbf), "‘’‚“”„•…–—―")}]`;

/**
 * Runs of characters that look like UTF-8 mojibake (`UTF8_DETECTOR_RE`), not preceded by a
 * strict continuation character, so that a few characters inside a larger garble are not "fixed"
 * on their own.
 */
export const UTF8_DETECTOR = pyRegex(
  `(?<!${CONTINUATION_STRICT})(?:${FIRST_OF_2}${CONTINUATION}|${FIRST_OF_3}${CONTINUATION}{2}|` +
    `${FIRST_OF_4}${CONTINUATION}{3})+`,
  "g",
);

/** The clue classes, for tests that compare them with ftfy's lists. */
export const UTF8_CLUE_CLASSES = {
  utf8_first_of_2: FIRST_OF_2,
  utf8_first_of_3: FIRST_OF_3,
  utf8_first_of_4: FIRST_OF_4,
  utf8_continuation: CONTINUATION,
  utf8_continuation_strict: CONTINUATION_STRICT,
};

/** The category class bodies, for tests that compare them with ftfy's lists. */
export const MOJIBAKE_CATEGORIES: Readonly<Record<string, string>> = CAT;
