/**
 * PixArt's caption preprocessing: diffusers' `PixArtAlphaPipeline._text_preprocessing` and
 * `_clean_caption` (copied there from DeepFloyd IF), for one caption, in plain TypeScript.
 *
 * Each step below is one `re.sub` (or library call) of `_clean_caption`, in its order, with
 * Python's Unicode-aware `\w \d \s \b $` spelled out (see `src/text/python_text.ts`). The library
 * calls are ported in `src/text/`: `urllib.parse.unquote_plus`, BeautifulSoup(html.parser)
 * `.text`, ftfy 6.3.1 `fix_text` and `html.unescape`. Matches the golden set exactly.
 */

import { fixText } from "../../src/text/fix_text.ts";
import { htmlUnescape } from "../../src/text/html_entities.ts";
import { htmlText } from "../../src/text/html_text.ts";
import {
  PY_B as B,
  PY_D as D,
  PY_END as END,
  PY_NOT_D as ND,
  PY_NOT_S as NS,
  PY_NOT_W as NW,
  PY_S as S,
  PY_W as W,
  pyLower,
  pyRegex,
  pyStrip,
} from "../../src/text/python_text.ts";
import { unquotePlus } from "../../src/text/url_unquote.ts";

/** Options of `preprocessCaption`. */
export interface CaptionOptions {
  /** Run `_clean_caption` (twice, as diffusers does): PixArt's default. False: lower + strip. */
  clean?: boolean;
}

const g = (source: string) => pyRegex(source, "g");

const URL_TAIL = `[a-zA-Z0-9.\\-]+[.](?:com|co|ru|net|org|edu|gov|it)[${W}\\/\\-]*${B}\\/?(?!@)`;
const FILE_TYPES = "(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)";

/** [pattern, replacement] pairs run before BeautifulSoup, after "<person>" → "person". */
const URLS: [RegExp, string][] = [
  [g(`${B}(?:https?:(?:\\/{1,3}|[a-zA-Z0-9%])|${URL_TAIL})`), ""],
  [g(`${B}(?:www:(?:\\/{1,3}|[a-zA-Z0-9%])|${URL_TAIL})`), ""],
];

/** [pattern, replacement] pairs run after BeautifulSoup, up to the dash/underscore rule. */
const BEFORE_FTFY: [RegExp, string][] = [
  [g(`@[${W}${D}]+${B}`), ""], // @nickname
  // CJK strokes, katakana phonetic extensions, enclosed CJK, CJK compatibility, ideographs
  // (extension A, Yijing hexagrams, unified): diffusers removes the seven ranges one after the
  // other, which removes the same characters as one pass over their union.
  [
    g(
      "[\\u31c0-\\u31ef\\u31f0-\\u31ff\\u3200-\\u32ff\\u3300-\\u33ff\\u3400-\\u4dbf" +
        "\\u4dc0-\\u4dff\\u4e00-\\u9fff]+",
    ),
    "",
  ],
  // Every kind of dash → "-".
  [
    g(
      "[\\u002D\\u058A\\u05BE\\u1400\\u1806\\u2010-\\u2015\\u2E17\\u2E1A\\u2E3A\\u2E3B\\u2E40" +
        "\\u301C\\u3030\\u30A0\\uFE31\\uFE32\\uFE58\\uFE63\\uFF0D]+",
    ),
    "-",
  ],
  [g("[`´«»“”¨]"), '"'], // quotes to one standard
  [g("[‘’]"), "'"],
  [g("&quot;?"), ""],
  [g("&amp"), ""],
  [g(`${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}`), " "], // IP addresses
  [g(`${D}:${D}${D}${S}+${END}`), ""], // article ids
  [g("\\\\n"), " "], // a literal backslash-n
  [g(`#${D}{1,3}${B}`), ""], // "#123"
  [g(`#${D}{5,}${B}`), ""], // "#12345.."
  [g(`${B}${D}{6,}${B}`), ""], // "123456.."
  [g(`${NS}+\\.${FILE_TYPES}`), ""], // file names
  [g(`["']{2,}`), '"'], // """AUSVERKAUFT"""
  [g("[.]{2,}"), " "],
  // diffusers' bad_punct_regex: # ® • © ™ & @ · º ½ ¾ ¿ ¡ § ~ ) ( ] [ } { | \ / *
  [g("[\\#®•©™\\&\\@·º½¾¿¡§\\~\\)\\(\\]\\[\\}\\{\\|\\\\\\/\\*]+"), " "],
  [g(`${S}+\\.${S}+`), " "], // " . "
];

/** [pattern, replacement] pairs run after ftfy and the double html.unescape. */
const AFTER_FTFY: [RegExp, string][] = [
  [g(`${B}[a-zA-Z]{1,3}${D}{3,15}${B}`), ""], // jc6640
  [g(`${B}[a-zA-Z]+${D}+[a-zA-Z]+${B}`), ""], // jc6640vc
  [g(`${B}${D}+[a-zA-Z]+${D}+${B}`), ""], // 6640vc231
  [g(`(?:worldwide${S}+)?(?:free${S}+)?shipping`), ""],
  [g(`(?:free${S})?download(?:${S}free)?`), ""],
  [g(`${B}click${B}${S}(?:for|on)${S}${W}+`), ""],
  [g(`${B}${FILE_TYPES}(?:${S}image[s]?)?`), ""],
  [g(`${B}page${S}+${D}+${B}`), ""],
  [g(`${B}${D}*[a-zA-Z]+${D}+[a-zA-Z]+${D}+[a-zA-Z${D}]*${B}`), " "], // j2d1a2a...
  [g(`${B}${D}+\\.?${D}*[xх×]${D}+\\.?${D}*${B}`), ""], // 1920x1080 (Latin x, Cyrillic х, ×)
  [g(`${B}${S}+:${S}+`), ": "],
  [g(`(${ND}[,\\.\\/])${B}`), "$1 "],
  [g(`${S}+`), " "],
  // (diffusers calls caption.strip() here without keeping the result: a no-op.)
  [g(`^["']([${W}${NW}]+)["']${END}`), "$1"],
  [g("^['_,\\-:;]"), ""],
  [g(`['_,\\-:\\-+]${END}`), ""],
  [g(`^\\.${NS}+${END}`), ""],
];

const DASH_OR_UNDERSCORE = /[-_]/g;

function applyAll(text: string, rules: [RegExp, string][]): string {
  for (const [pattern, replacement] of rules) text = text.replace(pattern, replacement);
  return text;
}

/**
 * One pass of diffusers' `_clean_caption`. Throws HtmlParseError where diffusers raises (bs4
 * rejects a caption holding "<![" without a keyword such as CDATA after it).
 */
export function cleanCaption(text: string): string {
  let caption = unquotePlus(text);
  caption = pyLower(pyStrip(caption));
  caption = caption.replaceAll("<person>", "person");
  caption = applyAll(caption, URLS);
  caption = htmlText(caption);
  caption = applyAll(caption, BEFORE_FTFY);
  // this-is-my-cute-cat / this_is_my_cute_cat: more than three separators become spaces.
  if ((caption.match(DASH_OR_UNDERSCORE) ?? []).length > 3) {
    caption = caption.replace(DASH_OR_UNDERSCORE, " ");
  }
  caption = fixText(caption);
  caption = htmlUnescape(htmlUnescape(caption));
  caption = applyAll(caption, AFTER_FTFY);
  return pyStrip(caption);
}

/**
 * `_text_preprocessing` for one caption: `_clean_caption` twice when cleaning (the default, as
 * PixArt's pipeline calls it), else `text.lower().strip()`.
 */
export function preprocessCaption(text: string, options: CaptionOptions = {}): string {
  if (options.clean ?? true) return cleanCaption(cleanCaption(text));
  return pyStrip(pyLower(text));
}
