/**
 * `BeautifulSoup(markup, "html.parser").text` as bs4 4.11.2 computes it on Python 3.11: the
 * tokenizer of Python's `html.parser.HTMLParser` (fed the whole string, then closed, with
 * `convert_charrefs=False` as bs4 sets it), bs4's handling of references and empty-element tags,
 * and the tree bookkeeping that decides which strings `.text` joins.
 *
 * What `.text` keeps: the document's text and CDATA sections, in document order. It leaves out
 * comments, doctypes, declarations, processing instructions, and the strings inside <script>,
 * <style>, <template>, <rt> and <rp>. A string made only of ASCII whitespace between two markup
 * events becomes one " " (or "\n" if it held one), except inside <pre> or <textarea>.
 */

import { decodeBytes } from "./byte_codecs.ts";
import { namedReferences } from "./html_entities.ts";
import { PY_S, pyLower, pyRegex, pyStrip } from "./python_text.ts";

/**
 * Markup on which Python's parser, and so bs4 4.11.2 with html.parser, raises: an SGML marked
 * section ("<![") that does not start with a keyword it knows (CDATA, if, endif...).
 */
export class HtmlParseError extends Error {
  override name = "HtmlParseError";
}

const S = PY_S;
const at = (source: string) => pyRegex(source, "y");
const from = (source: string) => pyRegex(source, "g");

const INTERESTING = from("[&<]");
const STARTTAG_OPEN = at("<[a-zA-Z]");
const TAG_FIND = at(`([a-zA-Z][^\\t\\n\\r\\f \\/>\\x00]*)(?:${S}|\\/(?!>))*`);
const ATTR_VALUE = `(?:'[^']*'|"[^"]*"|(?!['"])[^>${S}]*)`;
const ATTR_FIND = at(
  `(?<=['"${S}\\/])[^${S}\\/>][^${S}\\/=>]*(?:${S}*=+${S}*${ATTR_VALUE})?(?:${S}|\\/(?!>))*`,
);
const START_TAG_END = at(
  `<[a-zA-Z][^\\t\\n\\r\\f \\/>\\x00]*(?:[${S}\\/]*(?:(?<=['"${S}\\/])[^${S}\\/>][^${S}\\/=>]*` +
    `(?:${S}*=+${S}*${ATTR_VALUE}${S}*)?(?:${S}|\\/(?!>))*)*)?${S}*`,
);
const END_TAG_FIND = at(`<\\/${S}*([a-zA-Z][\\-.a-zA-Z0-9:_]*)${S}*>`);
// The terminating character is checked by lookahead: it is consumed only when it is a ";".
const CHARREF = at("&#([0-9]+|[xX][0-9a-fA-F]+)(?=[^0-9a-fA-F])");
const ENTITYREF = at("&([a-zA-Z][\\-.a-zA-Z0-9]*)(?=[^a-zA-Z0-9])");
const INCOMPLETE = at("&[a-zA-Z#]");
const COMMENT_CLOSE = from(`--${S}*>`);
const DECL_NAME = at(`[a-zA-Z][\\-_.a-zA-Z0-9]*${S}*`);
const MARKED_SECTION_CLOSE = from(`\\]${S}*\\]${S}*>`);
const MS_MARKED_SECTION_CLOSE = from(`\\]${S}*>`);

/** Python's `re.IGNORECASE` equivalents of the letters of "script" and "style". */
const FOLDS: Record<string, string> = { s: "sSſ", i: "iIıİ" };
function cdataEnd(tag: string): RegExp {
  const letters = [...tag].map((c) => `[${FOLDS[c] ?? c + c.toUpperCase()}]`).join("");
  return from(`<\\/${S}*${letters}${S}*>`);
}

function matchAt(re: RegExp, text: string, index: number): RegExpExecArray | null {
  re.lastIndex = index;
  return re.exec(text);
}

/** bs4's empty-element tags: closed as soon as they open. */
const VOID = new Set(
  ("area base br col embed hr img input keygen link menuitem meta param source track wbr " +
    "basefont bgsound command frame image isindex nextid spacer").split(" "),
);
/** Tags whose strings bs4 files under a class `.text` skips (script, style...). */
const STRING_CONTAINERS = new Set(["rt", "rp", "style", "script", "template"]);
const PRESERVE_WHITESPACE = new Set(["pre", "textarea"]);

type StringKind = "text" | "cdata" | "other";

/** bs4's tree builder, reduced to what decides the strings of `.text`. */
class TextBuilder {
  readonly out: string[] = [];
  private data: string[] = [];
  private stack: string[] = [];
  private open = new Map<string, number>();
  private preserve: number[] = [];
  private containers: number[] = [];
  private closedEmpty: string[] = [];

  handleData(data: string): void {
    this.data.push(data);
  }

  endData(kind?: StringKind): void {
    if (this.data.length === 0) return;
    let text = this.data.join("");
    this.data = [];
    if (this.preserve.length === 0 && /^[ \n\t\f\r]*$/.test(text)) {
      text = text.includes("\n") ? "\n" : " ";
    }
    kind ??= this.containers.length > 0 ? "other" : "text";
    if (kind !== "other") this.out.push(text);
  }

  /** A string of its own kind (comment, doctype, CDATA...), flushed before and after. */
  special(data: string, kind: StringKind): void {
    this.endData();
    this.handleData(data);
    this.endData(kind);
  }

  startTag(name: string, emptyElementCheck = true): void {
    this.endData();
    this.stack.push(name);
    this.open.set(name, (this.open.get(name) ?? 0) + 1);
    if (PRESERVE_WHITESPACE.has(name)) this.preserve.push(this.stack.length - 1);
    if (STRING_CONTAINERS.has(name)) this.containers.push(this.stack.length - 1);
    if (emptyElementCheck && VOID.has(name)) {
      this.popTo(name);
      this.closedEmpty.push(name);
    }
  }

  endTag(name: string, checkAlreadyClosed = true): void {
    const closed = checkAlreadyClosed ? this.closedEmpty.indexOf(name) : -1;
    if (closed >= 0) {
      // "<br></br>": the end tag of an element already closed is swallowed (no endData).
      this.closedEmpty.splice(closed, 1);
      return;
    }
    this.endData();
    this.popTo(name);
  }

  /** `_popToTag`: pop up to and including the innermost open `name`, if there is one. */
  private popTo(name: string): void {
    if (!this.open.get(name)) return;
    while (this.stack.length > 0) {
      const top = this.stack.pop()!;
      this.open.set(top, this.open.get(top)! - 1);
      const depth = this.stack.length;
      if (this.preserve.at(-1) === depth) this.preserve.pop();
      if (this.containers.at(-1) === depth) this.containers.pop();
      if (top === name) return;
    }
  }
}

/** The tokenizer of Python 3.11's `html.parser.HTMLParser` driving bs4's handlers. */
class Parser {
  private raw = "";
  private cdataElem: string | null = null;
  private cdataEndRe: RegExp | null = null;

  constructor(private readonly soup: TextBuilder) {}

  feed(markup: string): void {
    this.raw += markup;
    this.goahead(false);
  }

  close(): void {
    this.goahead(true);
  }

  private goahead(end: boolean): void {
    const raw = this.raw;
    const n = raw.length;
    let i = 0;
    while (i < n) {
      const re = this.cdataEndRe ?? INTERESTING;
      re.lastIndex = i;
      const found = re.exec(raw);
      let j = n;
      if (found) j = found.index;
      else if (this.cdataElem !== null) break;
      if (i < j) this.soup.handleData(raw.slice(i, j));
      i = j;
      if (i === n) break;
      if (raw.startsWith("<", i)) {
        let k: number;
        if (matchAt(STARTTAG_OPEN, raw, i)) k = this.parseStartTag(i);
        else if (raw.startsWith("</", i)) k = this.parseEndTag(i);
        else if (raw.startsWith("<!--", i)) k = this.parseComment(i);
        else if (raw.startsWith("<?", i)) k = this.parsePi(i);
        else if (raw.startsWith("<!", i)) k = this.parseHtmlDeclaration(i);
        else if (i + 1 < n) {
          this.soup.handleData("<");
          k = i + 1;
        } else break;
        if (k < 0) {
          if (!end) break;
          // At the end of input an unfinished construct is text up to the next ">" (or "<").
          k = raw.indexOf(">", i + 1);
          if (k < 0) {
            k = raw.indexOf("<", i + 1);
            if (k < 0) k = i + 1;
          } else k += 1;
          this.soup.handleData(raw.slice(i, k));
        }
        i = k;
      } else if (raw.startsWith("&#", i)) {
        const match = matchAt(CHARREF, raw, i);
        if (match) {
          this.soup.handleData(charref(match[1]));
          i += match[0].length;
          if (raw[i] === ";") i += 1;
          continue;
        }
        if (raw.slice(i).includes(";")) {
          this.soup.handleData("&#");
          i += 2;
        }
        break;
      } else {
        const match = matchAt(ENTITYREF, raw, i);
        if (match) {
          // bs4 keeps an unknown name as "&name" (dropping a ";" that ended it).
          this.soup.handleData(namedReferences().get(match[1]) ?? `&${match[1]}`);
          i += match[0].length;
          if (raw[i] === ";") i += 1;
          continue;
        }
        const incomplete = matchAt(INCOMPLETE, raw, i);
        if (incomplete) {
          if (end && incomplete[0] === raw.slice(i)) i += 1;
          break;
        } else if (i + 1 < n) {
          this.soup.handleData("&");
          i += 1;
        } else break;
      }
    }
    if (end && i < n && this.cdataElem === null) {
      this.soup.handleData(raw.slice(i, n));
      i = n;
    }
    this.raw = raw.slice(i);
  }

  private parseStartTag(i: number): number {
    const endPos = this.wholeStartTagEnd(i);
    if (endPos < 0) return endPos;
    const raw = this.raw;
    const nameMatch = matchAt(TAG_FIND, raw, i + 1)!;
    const tag = pyLower(nameMatch[1]);
    let k = i + 1 + nameMatch[0].length;
    while (k < endPos) {
      const attr = matchAt(ATTR_FIND, raw, k);
      if (!attr) break;
      k += attr[0].length;
    }
    const rest = pyStrip(raw.slice(k, endPos));
    if (rest !== ">" && rest !== "/>") {
      this.soup.handleData(raw.slice(i, endPos));
      return endPos;
    }
    if (rest.endsWith("/>")) {
      this.soup.startTag(tag, false);
      this.soup.endTag(tag);
    } else {
      this.soup.startTag(tag);
      if (tag === "script" || tag === "style") {
        this.cdataElem = tag;
        this.cdataEndRe = cdataEnd(tag);
      }
    }
    return endPos;
  }

  /** `check_for_whole_start_tag`: where the start tag at `i` ends, or -1 if it may go on. */
  private wholeStartTagEnd(i: number): number {
    const raw = this.raw;
    const j = i + matchAt(START_TAG_END, raw, i)![0].length;
    const next = raw.slice(j, j + 1);
    if (next === ">") return j + 1;
    if (next === "/") return raw.startsWith("/>", j) ? j + 2 : -1;
    if (next === "" || /^[a-zA-Z=\/]$/.test(next)) return -1;
    return j > i ? j : i + 1;
  }

  private parseEndTag(i: number): number {
    const raw = this.raw;
    const gt = raw.indexOf(">", i + 1);
    if (gt < 0) return -1;
    let gtPos = gt + 1;
    const match = matchAt(END_TAG_FIND, raw, i);
    if (!match) {
      if (this.cdataElem !== null) {
        this.soup.handleData(raw.slice(i, gtPos));
        return gtPos;
      }
      const nameMatch = matchAt(TAG_FIND, raw, i + 2);
      if (!nameMatch) return raw.startsWith("</>", i) ? i + 3 : this.parseBogusComment(i);
      gtPos = raw.indexOf(">", i + 2 + nameMatch[0].length);
      this.soup.endTag(pyLower(nameMatch[1]));
      return gtPos + 1;
    }
    const elem = pyLower(match[1]);
    if (this.cdataElem !== null && elem !== this.cdataElem) {
      this.soup.handleData(raw.slice(i, gtPos));
      return gtPos;
    }
    this.soup.endTag(elem);
    this.cdataElem = null;
    this.cdataEndRe = null;
    return gtPos;
  }

  private parseComment(i: number): number {
    COMMENT_CLOSE.lastIndex = i + 4;
    const match = COMMENT_CLOSE.exec(this.raw);
    if (!match) return -1;
    this.soup.special(this.raw.slice(i + 4, match.index), "other");
    return match.index + match[0].length;
  }

  private parseBogusComment(i: number): number {
    const pos = this.raw.indexOf(">", i + 2);
    if (pos < 0) return -1;
    this.soup.special(this.raw.slice(i + 2, pos), "other");
    return pos + 1;
  }

  private parsePi(i: number): number {
    const pos = this.raw.indexOf(">", i + 2);
    if (pos < 0) return -1;
    this.soup.special(this.raw.slice(i + 2, pos), "other");
    return pos + 1;
  }

  private parseHtmlDeclaration(i: number): number {
    const raw = this.raw;
    if (raw.startsWith("<![", i)) return this.parseMarkedSection(i);
    if (pyLower(raw.slice(i, i + 9)) === "<!doctype") {
      const gt = raw.indexOf(">", i + 9);
      if (gt < 0) return -1;
      this.soup.special(raw.slice(i + 2, gt), "other");
      return gt + 1;
    }
    return this.parseBogusComment(i);
  }

  /** `<![CDATA[...]]>` (text for bs4), `<![if ...]>` and the other SGML marked sections. */
  private parseMarkedSection(i: number): number {
    const raw = this.raw;
    if (i + 3 === raw.length) return -1;
    const name = matchAt(DECL_NAME, raw, i + 3);
    if (!name) throw new HtmlParseError(`expected name token at ${JSON.stringify(raw.slice(i))}`);
    if (i + 3 + name[0].length === raw.length) return -1;
    const keyword = pyLower(pyStrip(name[0]));
    let close: RegExp;
    if (["temp", "cdata", "ignore", "include", "rcdata"].includes(keyword)) {
      close = MARKED_SECTION_CLOSE;
    } else if (["if", "else", "endif"].includes(keyword)) close = MS_MARKED_SECTION_CLOSE;
    else throw new HtmlParseError(`unknown status keyword ${JSON.stringify(keyword)}`);
    close.lastIndex = i + 3;
    const match = close.exec(raw);
    if (!match) return -1;
    const data = raw.slice(i + 3, match.index);
    if (data.slice(0, 6).toUpperCase() === "CDATA[") this.soup.special(data.slice(6), "cdata");
    else this.soup.special(data, "other");
    return match.index + match[0].length;
  }
}

/** bs4's numeric reference: Windows-1252 below 256 where it defines the byte, else the code point. */
function charref(name: string): string {
  const n = name[0] === "x" || name[0] === "X" ? parseInt(name.slice(1), 16) : parseInt(name, 10);
  const cp1252 = n < 256 ? decodeBytes(String.fromCharCode(n), "windows-1252") : null;
  return cp1252 ?? (n <= 0x10ffff ? String.fromCodePoint(n) : "\ufffd");
}

/**
 * The text of `markup` as `BeautifulSoup(markup, "html.parser").text` (bs4 4.11.2) gives it.
 * Throws HtmlParseError where that raises (an SGML marked section bs4 cannot read).
 */
export function htmlText(markup: string): string {
  const soup = new TextBuilder();
  const parser = new Parser(soup);
  parser.feed(markup);
  parser.close();
  soup.endData();
  return soup.out.join("");
}
