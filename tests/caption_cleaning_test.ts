/**
 * PixArt caption preprocessing against diffusers' own output (golden `pixart-captions`), plus unit
 * tests of the ported ftfy / html / urllib / Python-string pieces on inputs whose results ftfy's
 * documentation and Python 3.11 define.
 */

import { preprocessCaption } from "../models/pixart/caption_cleaning.ts";
import { decodeUtf8Variants } from "../src/text/byte_codecs.ts";
import { fixEncoding, fixText } from "../src/text/fix_text.ts";
import {
  fixCharacterWidth,
  fixLatinLigatures,
  fixLineBreaks,
  fixSurrogates,
  removeControlChars,
  removeTerminalEscapes,
  uncurlQuotes,
  unescapeHtml,
} from "../src/text/ftfy_fixes.ts";
import { htmlUnescape } from "../src/text/html_entities.ts";
import { HtmlParseError, htmlText } from "../src/text/html_text.ts";
import { isBad } from "../src/text/mojibake_heuristics.ts";
import { PY_B, PY_D, PY_S, PY_W, pyLower, pyRegex, pyStrip } from "../src/text/python_text.ts";
import { unquotePlus } from "../src/text/url_unquote.ts";
import { assertThrows } from "./asserts.ts";
import { goldenDir } from "./helpers.ts";

interface CaptionCase {
  name: string;
  text: string;
  clean: string;
  no_clean: string;
}

function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) {
    throw new Error(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

/** `fn(input)` against `expected` for each `[input, expected, what]` row. */
function expectEach<T>(fn: (input: string) => T, rows: readonly [string, T, string][]): void {
  for (const [input, expected, what] of rows) expectEqual(fn(input), expected, what);
}

Deno.test("caption preprocessing matches diffusers on every golden case", () => {
  const path = `${goldenDir()}/pixart-captions/cases.json`;
  const cases: CaptionCase[] = JSON.parse(Deno.readTextFileSync(path)).cases;
  if (cases.length === 0) throw new Error(`${path} holds no cases`);
  const failures: string[] = [];
  let clean = 0;
  let noClean = 0;
  cases.forEach((c, index) => {
    for (const [field, options] of [["clean", {}], ["no_clean", { clean: false }]] as const) {
      const got = preprocessCaption(c.text, options);
      if (got === c[field]) {
        if (field === "clean") clean++;
        else noClean++;
        continue;
      }
      failures.push(
        `case ${index} (${c.name}) ${field}\n  input    ${JSON.stringify(c.text)}\n` +
          `  got      ${JSON.stringify(got)}\n  expected ${JSON.stringify(c[field])}`,
      );
    }
  });
  console.log(`clean ${clean}/${cases.length}, no_clean ${noClean}/${cases.length}`);
  if (failures.length > 0) {
    throw new Error(`${failures.length} mismatches:\n${failures.join("\n")}`);
  }
});

Deno.test("fix_encoding undoes UTF-8 read as latin-1 / windows-1252", () => {
  expectEach(fixEncoding, [
    ["sÃ³", "só", "latin-1 mojibake"],
    ["âœ” No problems", "✔ No problems", "windows-1252 mojibake"],
    // restore_byte_a0: the no-break space of "à" flattened into a space.
    ["voilÃ le travail", "voilà le travail", "restore_byte_a0"],
  ]);
  expectEach(fixText, [
    // replace_lossy_sequences: a "�" where windows-1252 had no character.
    ["â€œ like this â€\ufffd", '" like this \ufffd', "lossy sequence"],
    // decode_inconsistent_utf8: mojibake next to a character no single-byte encoding has.
    ["“Ã©tÃ©” and ☃", '"été" and ☃', "inconsistent UTF-8"],
    // A C1 control alone is read as windows-1252, as browsers do.
    ["sep\x85next", "sep…next", "latin-1 → windows-1252"],
  ]);
  expectEach(isBad, [
    ["plain café text", false, "is_bad on clean text"],
    ["cafÃ©", true, "is_bad on mojibake"],
  ]);
});

Deno.test("fix_text: HTML entities only while no line held a '<'", () => {
  expectEqual(
    fixText("Broken text&hellip; it&#x2019;s ﬂubberiﬁc!"),
    "Broken text… it's flubberific!",
    "doc",
  );
  expectEqual(
    unescapeHtml("P&EACUTE;REZ BUNDESSTRA&SZLIG;E"),
    "PÉREZ BUNDESSTRASSE",
    "all-caps names",
  );
  expectEqual(unescapeHtml("&ntilde; &Ntilde; &NTILDE; &nTILDE;"), "ñ Ñ Ñ &nTILDE;", "case rules");
  expectEqual(unescapeHtml("this&not that"), "this&not that", "no ';', no decoding");
  expectEqual(fixText("a < b &amp; c"), "a < b &amp; c", "HTML kept as HTML");
  expectEqual(fixText("&amp;\n<b>&amp;</b>\n&amp;"), "&\n<b>&amp;</b>\n&amp;", "'auto' stays off");
});

Deno.test("ftfy's character-level fixers", () => {
  expectEqual(fixCharacterWidth("ＬＯＵＤ\u3000ＮＯＩＳＥＳ"), "LOUD NOISES", "fullwidth");
  expectEqual(fixCharacterWidth("Ｕﾀｰﾝ"), "Uターン", "halfwidth katakana");
  expectEqual(fixLatinLigatures("ﬂuﬃeﬆ"), "fluffiest", "ligatures");
  expectEqual(uncurlQuotes("\u201chere\u2019s a test\u201d"), `"here's a test"`, "quotes");
  expectEqual(fixLineBreaks("a\r\nb\rc\u2028d\u2029e\x85f"), "a\nb\nc\nd\ne\nf", "line breaks");
  expectEqual(removeTerminalEscapes("\x1b[36;44mblue\x1b[0m"), "blue", "ANSI escapes");
  expectEqual(removeControlChars("a\x00b\x07c\x1bd\ufeffe\tf\n"), "abcde\tf\n", "controls");
  expectEqual(fixSurrogates("a\ud800b\ud83d\ude00"), "a\ufffdb\ud83d\ude00", "lone surrogate");
  expectEqual(fixText("cafe\u0301"), "café", "NFC");
  const cesu8Emoji = "\xed\xa0\xbd\xed\xb8\x80";
  expectEqual(decodeUtf8Variants(`null\xc0\x80 ${cesu8Emoji}`), "null\x00 \u{1f600}", "utf-8-var");
  expectEqual(decodeUtf8Variants("\xed\xa0\x80"), null, "lone CESU-8 surrogate");
});

Deno.test("html.unescape and BeautifulSoup(html.parser).text", () => {
  const unescaped = htmlUnescape("&notit; &#x80; &#0; &amp &#65 &#xD800; &#1114112;");
  expectEqual(unescaped, "¬it; € \ufffd & A \ufffd \ufffd", "html.unescape");
  expectEach(htmlText, [
    ["<b>Bold</b> and <i>x</i>", "Bold and x", "tags"],
    ["<script>a</script>b<style>c</style>", "b", "script/style"],
    ["<![CDATA[x]]>a <!-- c --> b", "xa  b", "CDATA kept, comment dropped"],
    ["&foo; &amp &#x41;", "&foo & A", "bs4 references"],
    ["<b>x</b> \n <i>y</i>", "x\ny", "whitespace-only string"],
    ["<pre>  </pre>", "  ", "whitespace kept in <pre>"],
  ]);
  assertThrows(() => htmlText("<![ x"), HtmlParseError, "expected name token");
});

Deno.test("Python str and re semantics", () => {
  expectEqual(pyStrip("\x1c a \x85"), "a", "strip: Python whitespace");
  expectEqual(pyStrip("\ufeffa"), "\ufeffa", "strip: U+FEFF is not whitespace");
  expectEqual(pyLower("ΟΔΟΣ"), "οδος", "lower: final sigma");
  // U+A7CB is new in Unicode 16: Python 3.11 (Unicode 14) leaves it as it is.
  expectEqual(pyLower("\ua7cb"), "\ua7cb", "lower: unassigned in Unicode 14");
  expectEqual(pyRegex(`^${PY_W}+$`).test("jürgen_1"), true, "\\w: Unicode letters");
  expectEqual(pyRegex(`^${PY_W}$`).test("\u{1e5d0}"), false, "\\w: Unicode 16 letter");
  expectEqual(pyRegex(`^${PY_D}+$`).test("١٢٣"), true, "\\d: Arabic-Indic digits");
  expectEqual(pyRegex(`^${PY_S}+$`).test("\x1c\x1f\x85\u3000"), true, "\\s");
  expectEqual(pyRegex(`^${PY_S}$`).test("\ufeff"), false, "\\s: not U+FEFF");
  expectEqual("@jürgen x".replace(pyRegex(`@${PY_W}+${PY_B}`, "g"), ""), " x", "\\b");
  expectEqual(unquotePlus("Hello%20World%21+x"), "Hello World! x", "unquote_plus");
  expectEqual(unquotePlus("%E2%80 %C3%A9+%zz%2"), "\ufffd é %zz%2", "invalid UTF-8, bad escapes");
});
