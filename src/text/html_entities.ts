/**
 * HTML character references: the HTML5 named-reference table and Python 3.11's `html.unescape`,
 * which both bs4's html.parser builder and PixArt's caption cleaning rely on.
 */

import { decodeBytes } from "./byte_codecs.ts";
import { NAMED_REFERENCES, NAMES_WITHOUT_SEMICOLON } from "./html_entity_table.ts";

let named: Map<string, string> | null = null;
let legacy: Set<string> | null = null;

/** Every HTML5 reference name (without ";") → the text it stands for. */
export function namedReferences(): ReadonlyMap<string, string> {
  if (named === null) {
    named = new Map();
    for (const group of NAMED_REFERENCES.split(" ")) {
      const [codes, names] = group.split(":");
      const text = String.fromCodePoint(...codes.split(".").map((h) => parseInt(h, 16)));
      for (const name of names.split(",")) named.set(name, text);
    }
  }
  return named;
}

/**
 * A key of Python's `html.entities.html5`: "name;" for every reference, plain "name" only for
 * the legacy references that may omit the ";".
 */
function html5Entry(key: string): string | undefined {
  if (key.endsWith(";")) return namedReferences().get(key.slice(0, -1));
  legacy ??= new Set(NAMES_WITHOUT_SEMICOLON.split(" "));
  return legacy.has(key) ? namedReferences().get(key) : undefined;
}

/** Code points a numeric reference turns into nothing (`html._invalid_codepoints`, 0x80–0x9F aside). */
function droppedCodePoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

/** One numeric reference ("#65", "#x41;"...) as HTML5 (and `html.unescape`) decodes it. */
function numericReference(body: string): string {
  const digits = body.replace(/;$/, "");
  const n = digits[1] === "x" || digits[1] === "X"
    ? parseInt(digits.slice(2), 16)
    : parseInt(digits.slice(1), 10);
  // Windows-1252 for the C1 range (its five undefined bytes stay as they are), U+FFFD for 0.
  if (n === 0) return "\ufffd";
  if (n === 0x0d) return "\r";
  if (n >= 0x80 && n <= 0x9f) return decodeBytes(String.fromCharCode(n), "sloppy-windows-1252")!;
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return "\ufffd";
  if (droppedCodePoint(n)) return "";
  return String.fromCodePoint(n);
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <\&\#;]{1,32};?)/gv;

/**
 * Python 3.11's `html.unescape`: numeric references, named ones with or without ";" as HTML5
 * allows, and for an unknown name the longest legacy name it starts with ("&notit;" → "¬it;").
 */
export function htmlUnescape(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(CHARREF, (_match, body: string) => {
    if (body[0] === "#") return numericReference(body);
    const whole = html5Entry(body);
    if (whole !== undefined) return whole;
    for (let length = body.length - 1; length > 1; length--) {
      const prefix = html5Entry(body.slice(0, length));
      if (prefix !== undefined) return prefix + body.slice(length);
    }
    return "&" + body;
  });
}
