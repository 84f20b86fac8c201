/**
 * The byte-level codecs ftfy's mojibake repair needs: the single-byte code pages it tries, its
 * "sloppy" variants, strict UTF-8 and ftfy's "utf-8-variants" (CESU-8 and Java's C0 80 null).
 *
 * Bytes are carried as "byte strings" (one char per byte, U+0000–U+00FF) so that byte-level
 * regexes such as ftfy's ALTERED_UTF8_RE can run on them as ordinary non-Unicode regexes.
 */

/** Single-byte encodings in the order ftfy tries them (`chardata.CHARMAP_ENCODINGS`). */
export const CHARMAP_ENCODINGS = [
  "latin-1",
  "sloppy-windows-1252",
  "sloppy-windows-1251",
  "sloppy-windows-1250",
  "sloppy-windows-1253",
  "sloppy-windows-1254",
  "sloppy-windows-1257",
  "iso-8859-2",
  "macroman",
  "cp437",
] as const;
export type CharmapEncoding = (typeof CHARMAP_ENCODINGS)[number];

/**
 * Bytes 0x80–0xFF of each code page as Python's strict codecs decode them, U+FFFD marking the
 * bytes the code page leaves undefined (Python's decoders raise on those). Bytes 0x00–0x7F are
 * ASCII in all of them. Generated from CPython 3.11.2's codecs.
 */
const HIGH_HALVES: Record<string, string> = {
  "windows-1252":
    "€\ufffd‚ƒ„…†‡ˆ‰Š‹Œ\ufffdŽ\ufffd\ufffd‘’“”•–—˜™š›œ\ufffdžŸ\xa0¡¢£¤¥¦§¨©ª«¬\xad®¯°±²³´" +
    "µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ",
  "windows-1251":
    "ЂЃ‚ѓ„…†‡€‰Љ‹ЊЌЋЏђ‘’“”•–—\ufffd™љ›њќћџ\xa0ЎўЈ¤Ґ¦§Ё©Є«¬\xad®Ї°±Ііґµ¶·ё№є»јЅѕїАБВГДЕЖЗИ" +
    "ЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя",
  "windows-1250":
    "€\ufffd‚\ufffd„…†‡\ufffd‰Š‹ŚŤŽŹ\ufffd‘’“”•–—\ufffd™š›śťžź\xa0ˇ˘Ł¤Ą¦§¨©Ş«¬\xad®Ż°±˛ł´" +
    "µ¶·¸ąş»Ľ˝ľżŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
  "windows-1253":
    "€\ufffd‚ƒ„…†‡\ufffd‰\ufffd‹\ufffd\ufffd\ufffd\ufffd\ufffd‘’“”•–—\ufffd™\ufffd›\ufffd" +
    "\ufffd\ufffd\ufffd\xa0΅Ά£¤¥¦§¨©\ufffd«¬\xad®―°±²³΄µ¶·ΈΉΊ»Ό½ΎΏΐΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡ" +
    "\ufffdΣΤΥΦΧΨΩΪΫάέήίΰαβγδεζηθικλμνξοπρςστυφχψωϊϋόύώ\ufffd",
  "windows-1254":
    "€\ufffd‚ƒ„…†‡ˆ‰Š‹Œ\ufffd\ufffd\ufffd\ufffd‘’“”•–—˜™š›œ\ufffd\ufffdŸ\xa0¡¢£¤¥¦§¨©ª«¬" +
    "\xad®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüı" +
    "şÿ",
  "windows-1257":
    "€\ufffd‚\ufffd„…†‡\ufffd‰\ufffd‹\ufffd¨ˇ¸\ufffd‘’“”•–—\ufffd™\ufffd›\ufffd¯˛\ufffd" +
    "\xa0\ufffd¢£¤\ufffd¦§Ø©Ŗ«¬\xad®Æ°±²³´µ¶·ø¹ŗ»¼½¾æĄĮĀĆÄÅĘĒČÉŹĖĢĶĪĻŠŃŅÓŌÕÖ×ŲŁŚŪÜŻŽßąįāć" +
    "äåęēčéźėģķīļšńņóōõö÷ųłśūüżž˙",
  "iso-8859-2":
    "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94" +
    "\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0Ą˘Ł¤ĽŚ§¨ŠŞŤŹ\xadŽŻ°ą˛ł´ľśˇ¸šşťź˝žżŔÁ" +
    "ÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
  "macroman":
    "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø¿¡¬√ƒ≈∆«»…\xa0ÀÃÕŒœ–" +
    "—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ",
  "cp437": "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙" +
    "╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\xa0",
};

interface Codec {
  /** Byte → character, all 256 bytes (undefined bytes are absent). */
  decode: (string | undefined)[];
  /** Character → byte. */
  encode: Map<string, number>;
}

const codecs = new Map<string, Codec>();

/**
 * A strict code page, or ftfy's sloppy variant of it: undefined bytes decode to the Latin-1
 * character of the same number (as browsers do), and byte 0x1A stands for U+FFFD so that text
 * already holding "�" can still be re-encoded (ftfy's `bad_codecs.sloppy`).
 */
function codec(name: string): Codec {
  let found = codecs.get(name);
  if (found) return found;
  const sloppy = name.startsWith("sloppy-");
  const base = sloppy ? name.slice("sloppy-".length) : name;
  const high = base === "latin-1" ? null : HIGH_HALVES[base];
  if (high === undefined) throw new Error(`unknown single-byte encoding ${name}`);
  const decode: (string | undefined)[] = [];
  for (let byte = 0; byte < 256; byte++) {
    let char: string | undefined = byte < 0x80 || high === null
      ? String.fromCharCode(byte)
      : high[byte - 0x80];
    if (char === "\ufffd") char = sloppy ? String.fromCharCode(byte) : undefined;
    if (sloppy && byte === 0x1a) char = "\ufffd";
    decode.push(char);
  }
  const encode = new Map<string, number>();
  decode.forEach((char, byte) => {
    if (char !== undefined && !encode.has(char)) encode.set(char, byte);
  });
  found = { decode, encode };
  codecs.set(name, found);
  return found;
}

/** Whether every character of `text` exists in `encoding` (ftfy's `possible_encoding`). */
export function canEncode(text: string, encoding: CharmapEncoding): boolean {
  const { encode } = codec(encoding);
  for (const char of text) if (!encode.has(char)) return false;
  return true;
}

/** `text.encode(encoding)` as a byte string; throws on a character the encoding lacks. */
export function encodeBytes(text: string, encoding: CharmapEncoding): string {
  const { encode } = codec(encoding);
  let out = "";
  for (const char of text) {
    const byte = encode.get(char);
    if (byte === undefined) throw new RangeError(`${encoding} cannot encode U+${hex(char)}`);
    out += String.fromCharCode(byte);
  }
  return out;
}

/** Decodes a byte string with a code page; null where a byte is undefined in it (strict). */
export function decodeBytes(bytes: string, encoding: string): string | null {
  const { decode } = codec(encoding);
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const char = decode[bytes.charCodeAt(i)];
    if (char === undefined) return null;
    out += char;
  }
  return out;
}

function hex(char: string): string {
  return char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
}

function toArray(bytes: string): Uint8Array {
  const array = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
  return array;
}

// Python's UTF-8 codec keeps a leading BOM (only "utf-8-sig" drops it), hence ignoreBOM.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const replacingUtf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** `bytes.decode("utf-8")`: null where Python would raise UnicodeDecodeError. */
export function decodeUtf8(bytes: string): string | null {
  try {
    return strictUtf8.decode(toArray(bytes));
  } catch {
    return null;
  }
}

/** `bytes.decode("utf-8", "replace")`: each maximal invalid subsequence becomes one U+FFFD. */
export function decodeUtf8Replacing(bytes: string): string {
  return replacingUtf8.decode(toArray(bytes));
}

// The special sequences of ftfy's utf-8-variants codec, with Python's bytes-regex `$` (which
// also matches before a final "\n") kept as `(?=\n?$)`, as the codec's own regexes have it.
const END = "(?=\\n?$)";
const CESU8 = `\\xed(?:[\\xa0-\\xaf]|${END})(?:[\\x80-\\xbf]|${END})(?:\\xed|${END})` +
  `(?:[\\xb0-\\xbf]|${END})(?:[\\x80-\\xbf]|${END})`;
const SPECIAL_BYTES = new RegExp(
  `\\xc0(?:\\x80|${END})|${CESU8}|\\xed(?:[\\xa0-\\xbf]|${END})(?:[\\x80-\\xbf]|${END})`,
);
const CESU8_AT_START = new RegExp(`^${CESU8}`);

/**
 * `bytes.decode("utf-8-variants")` (ftfy): UTF-8 that may also hold CESU-8 surrogate pairs
 * (six bytes for one astral character) and Java's two-byte null C0 80. Any other invalid
 * sequence, a lone encoded surrogate included, fails as in strict UTF-8: null.
 */
export function decodeUtf8Variants(bytes: string): string | null {
  let out = "";
  let rest = bytes;
  while (rest.length > 0) {
    const match = SPECIAL_BYTES.exec(rest);
    if (match === null) {
      const tail = decodeUtf8(rest);
      return tail === null ? null : out + tail;
    }
    if (match.index > 0) {
      const head = decodeUtf8(rest.slice(0, match.index));
      if (head === null) return null;
      out += head;
      rest = rest.slice(match.index);
    } else if (rest.charCodeAt(0) === 0xc0) {
      // As the codec does: a C0 with any byte after it (the pattern only allows 80 or a
      // final "\n") is a null taking two bytes; a C0 on its own is invalid.
      if (rest.length < 2) return null;
      out += "\u0000";
      rest = rest.slice(2);
    } else {
      if (rest.length < 6 || !CESU8_AT_START.test(rest)) return null;
      const b = (k: number) => rest.charCodeAt(k);
      out += String.fromCodePoint(
        ((b(1) & 0x0f) << 16) + ((b(2) & 0x3f) << 10) + ((b(4) & 0x0f) << 6) + (b(5) & 0x3f) +
          0x10000,
      );
      rest = rest.slice(6);
    }
  }
  return out;
}
