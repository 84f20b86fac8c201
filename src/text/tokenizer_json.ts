/**
 * Reading a Hugging Face `tokenizer.json` that describes a SentencePiece Unigram tokenizer (as
 * transformers writes for T5): the vocab, the normalizer and pre-tokenizer chain, the added
 * (special) tokens and the post-processor template. Each component kind we do not implement
 * is refused by name rather than skipped, since skipping one silently changes ids.
 *
 * The `Precompiled` normalizer is applied with sentencepiece's longest-match rule over UTF-8
 * bytes; Hugging Face applies it per grapheme cluster, which agrees except for rare sequences
 * (a grapheme shorter than 6 bytes whose shortest charsmap prefix is not the whole grapheme).
 */

import { CheckpointError } from "../errors.ts";
import { PrecompiledCharsmap } from "./charsmap.ts";

/** A piece of input text after added-token splitting and pre-tokenization. */
export type PreToken = { text: string } | { addedId: number; content: string };

export interface TokenizerJson {
  vocab: { piece: string; score: number }[];
  unkId: number;
  addedTokens: AddedToken[];
  /** Splits raw text into what the unigram model segments, with added tokens in place. */
  preTokenize(text: string): PreToken[];
  /** Special-token ids the post-processor puts around a single sequence. */
  prefixIds: number[];
  suffixIds: number[];
  /** Id of a token by its content, among added tokens and then the vocab. */
  tokenId(content: string): number | undefined;
  padId: number | undefined;
}

type Json = Record<string, unknown>;

class Fields {
  constructor(readonly source: string) {}

  fail(path: string, expected: string, found: unknown): never {
    const shown = typeof found === "string" ? `"${found}"` : JSON.stringify(found) ?? "undefined";
    throw new CheckpointError(
      `${this.source}: ${path}: expected ${expected}, found ${shown.slice(0, 60)}`,
    );
  }

  object(value: unknown, path: string): Json {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(path, "an object", value);
    }
    return value as Json;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, "an array", value);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== "string") this.fail(path, "a string", value);
    return value;
  }

  number(value: unknown, path: string): number {
    if (typeof value !== "number" || !Number.isFinite(value)) this.fail(path, "a number", value);
    return value;
  }

  index(value: unknown, path: string, size: number): number {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) >= size) {
      this.fail(path, `an integer id in [0, ${size})`, value);
    }
    return value as number;
  }

  boolOr(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") this.fail(path, "a boolean", value);
    return value;
  }
}

/** Rust's `char::is_whitespace` (Unicode White_Space), which WhitespaceSplit and Strip use. */
const RUST_WHITESPACE = "\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
const WHITESPACE_RUN = new RegExp(`[${RUST_WHITESPACE}]+`, "u");
const LEADING_WHITESPACE = new RegExp(`^[${RUST_WHITESPACE}]+`, "u");
const TRAILING_WHITESPACE = new RegExp(`[${RUST_WHITESPACE}]+$`, "u");

function base64Bytes(text: string, fields: Fields, path: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return fields.fail(path, "base64", text);
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * How one pipeline stage (normalizer, pre-tokenizer) is described: absent means `none`; a
 * `Sequence` lists members under `sequenceKey` that `chain` runs in order; every other type is
 * parsed by its entry in `types`, and a type not there is refused by name.
 */
interface StageGrammar<T> {
  none: T;
  sequenceKey: string;
  chain(steps: T[]): T;
  types: Record<string, (spec: Json, fields: Fields, path: string) => T>;
}

function parseStage<T>(value: unknown, fields: Fields, path: string, grammar: StageGrammar<T>): T {
  if (value === null || value === undefined) return grammar.none;
  const spec = fields.object(value, path);
  const type = fields.string(spec.type, `${path}.type`);
  if (type === "Sequence") {
    const key = grammar.sequenceKey;
    return grammar.chain(
      fields.array(spec[key], `${path}.${key}`)
        .map((step, i) => parseStage(step, fields, `${path}.${key}[${i}]`, grammar)),
    );
  }
  if (!Object.hasOwn(grammar.types, type)) {
    const known = Object.keys(grammar.types).join(", ");
    return fields.fail(`${path}.type`, `${known} or Sequence`, type);
  }
  return grammar.types[type](spec, fields, path);
}

type Normalizer = (s: string) => string;

function parsePrecompiled(spec: Json, fields: Fields, path: string): Normalizer {
  const blobPath = `${path}.precompiled_charsmap`;
  const blob = base64Bytes(fields.string(spec.precompiled_charsmap, blobPath), fields, blobPath);
  const charsmap = new PrecompiledCharsmap(blob, `${fields.source}: ${blobPath}`);
  return (s) => charsmap.apply(s);
}

function parseReplace(spec: Json, fields: Fields, path: string): Normalizer {
  const pattern = fields.object(spec.pattern, `${path}.pattern`);
  const content = fields.string(spec.content, `${path}.content`);
  if (typeof pattern.String === "string") {
    const literal = pattern.String;
    return (s) => s.replaceAll(literal, content);
  }
  const source = fields.string(pattern.Regex, `${path}.pattern.Regex`);
  let regex: RegExp;
  try {
    regex = new RegExp(source, "gu");
  } catch {
    return fields.fail(`${path}.pattern.Regex`, "a regex JavaScript accepts", source);
  }
  return (s) => s.replace(regex, () => content);
}

function parseStrip(spec: Json, fields: Fields, path: string): Normalizer {
  const left = fields.boolOr(spec.strip_left, `${path}.strip_left`, true);
  const right = fields.boolOr(spec.strip_right, `${path}.strip_right`, true);
  return (s) => {
    const stripped = left ? s.replace(LEADING_WHITESPACE, "") : s;
    return right ? stripped.replace(TRAILING_WHITESPACE, "") : stripped;
  };
}

const NORMALIZERS: StageGrammar<Normalizer> = {
  none: (s) => s,
  sequenceKey: "normalizers",
  chain: (steps) => (s) => steps.reduce((text, step) => step(text), s),
  types: { Precompiled: parsePrecompiled, Replace: parseReplace, Strip: parseStrip },
};

/** A pre-token with its start in the segment's normalized text ("first" prefixing needs it). */
interface Span {
  text: string;
  start: number;
}
type PreTokenizerStep = (spans: Span[], segmentAtInputStart: boolean) => Span[];

function splitWhitespace(spans: Span[]): Span[] {
  const out: Span[] = [];
  for (const span of spans) {
    let offset = 0;
    for (const word of span.text.split(WHITESPACE_RUN)) {
      const at = span.text.indexOf(word, offset);
      if (word !== "") out.push({ text: word, start: span.start + at });
      offset = at + word.length;
    }
  }
  return out;
}

function parseMetaspace(spec: Json, fields: Fields, path: string): PreTokenizerStep {
  const replacement = fields.string(spec.replacement, `${path}.replacement`);
  if ([...replacement].length !== 1) {
    fields.fail(`${path}.replacement`, "one character", replacement);
  }
  let scheme: string;
  if (spec.prepend_scheme !== undefined) {
    scheme = fields.string(spec.prepend_scheme, `${path}.prepend_scheme`);
    if (!["always", "first", "never"].includes(scheme)) {
      fields.fail(`${path}.prepend_scheme`, "always, first or never", scheme);
    }
  } else {
    // Files from before prepend_scheme existed say add_prefix_space instead.
    scheme = fields.boolOr(spec.add_prefix_space, `${path}.add_prefix_space`, true)
      ? "always"
      : "never";
  }
  const split = fields.boolOr(spec.split, `${path}.split`, true);
  return (spans, segmentAtInputStart) => {
    const out: Span[] = [];
    for (const span of spans) {
      // Hugging Face's prepend is a no-op on an empty string, so nothing comes of one.
      if (span.text === "") continue;
      let text = span.text.replaceAll(" ", replacement);
      const prepend = scheme === "always" ||
        (scheme === "first" && segmentAtInputStart && span.start === 0);
      if (prepend && !text.startsWith(replacement)) text = replacement + text;
      if (!split) {
        out.push({ text, start: span.start });
        continue;
      }
      // Each replacement character starts a new pre-token and stays at its front.
      let from = 0;
      for (let at = text.indexOf(replacement, 1); at > 0; at = text.indexOf(replacement, at + 1)) {
        out.push({ text: text.slice(from, at), start: span.start + from });
        from = at;
      }
      if (from < text.length) out.push({ text: text.slice(from), start: span.start + from });
    }
    return out;
  };
}

const PRE_TOKENIZERS: StageGrammar<PreTokenizerStep> = {
  none: (spans) => spans,
  sequenceKey: "pretokenizers",
  chain: (steps) => (spans, atStart) => steps.reduce((s, step) => step(s, atStart), spans),
  types: { Metaspace: parseMetaspace, WhitespaceSplit: () => splitWhitespace },
};

export interface AddedToken {
  id: number;
  content: string;
}

function parseAddedTokens(value: unknown, fields: Fields): AddedToken[] {
  if (value === undefined || value === null) return [];
  return fields.array(value, "added_tokens").map((entry, i) => {
    const path = `added_tokens[${i}]`;
    const token = fields.object(entry, path);
    for (const flag of ["single_word", "lstrip", "rstrip", "normalized"]) {
      if (fields.boolOr(token[flag], `${path}.${flag}`, false)) {
        fields.fail(`${path}.${flag}`, "false (the only matching mode implemented)", true);
      }
    }
    const id = token.id;
    if (!Number.isInteger(id) || (id as number) < 0) fields.fail(`${path}.id`, "an id", id);
    const content = fields.string(token.content, `${path}.content`);
    if (content === "") fields.fail(`${path}.content`, "a non-empty string", content);
    return { id: id as number, content };
  });
}

/** Splits `text` at added tokens, leftmost match first and the longest at that position. */
function splitAddedTokens(text: string, tokens: AddedToken[]): (AddedToken | string)[] {
  const out: (AddedToken | string)[] = [];
  // Most positions cannot start any token; checking the first code unit skips them cheaply.
  const firstUnits = new Set(tokens.map((t) => t.content.charCodeAt(0)));
  let plain = 0;
  for (let from = 0; from < text.length;) {
    let best: AddedToken | undefined;
    if (firstUnits.has(text.charCodeAt(from))) {
      for (const token of tokens) {
        const longer = token.content.length > (best?.content.length ?? 0);
        if (longer && text.startsWith(token.content, from)) best = token;
      }
    }
    if (!best) {
      from++;
      continue;
    }
    if (plain < from) out.push(text.slice(plain, from));
    out.push(best);
    from += best.content.length;
    plain = from;
  }
  if (plain < text.length) out.push(text.slice(plain));
  return out;
}

function parseTemplate(value: unknown, fields: Fields, resolve: (s: string) => number) {
  const template = { prefixIds: [] as number[], suffixIds: [] as number[] };
  if (value === null || value === undefined) return template;
  const spec = fields.object(value, "post_processor");
  const type = fields.string(spec.type, "post_processor.type");
  if (type !== "TemplateProcessing") fields.fail("post_processor.type", "TemplateProcessing", type);
  const specials = fields.object(spec.special_tokens ?? {}, "post_processor.special_tokens");
  let seenSequence = false;
  fields.array(spec.single, "post_processor.single").forEach((item, i) => {
    const path = `post_processor.single[${i}]`;
    const entry = fields.object(item, path);
    if (entry.Sequence !== undefined) {
      if (seenSequence) fields.fail(path, "one Sequence", entry);
      seenSequence = true;
      return;
    }
    const name = fields.string(
      fields.object(entry.SpecialToken, path).id,
      `${path}.SpecialToken.id`,
    );
    const special = specials[name] === undefined
      ? undefined
      : fields.object(specials[name], `post_processor.special_tokens.${name}`);
    const ids = special
      ? fields.array(special.ids, `post_processor.special_tokens.${name}.ids`)
        .map((id, k) => fields.number(id, `post_processor.special_tokens.${name}.ids[${k}]`))
      : [resolve(name)];
    (seenSequence ? template.suffixIds : template.prefixIds).push(...ids);
  });
  if (!seenSequence) fields.fail("post_processor.single", "a Sequence item", spec.single);
  return template;
}

/** Parses `tokenizer.json` (text or already-parsed JSON); `source` names it in errors. */
export function parseTokenizerJson(json: unknown, source = "tokenizer.json"): TokenizerJson {
  const fields = new Fields(source);
  if (typeof json === "string") {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new CheckpointError(`${source}: not valid JSON (${(e as Error).message})`);
    }
  }
  const root = fields.object(json, "(root)");
  const model = fields.object(root.model, "model");
  const modelType = fields.string(model.type, "model.type");
  if (modelType !== "Unigram") fields.fail("model.type", "Unigram", modelType);
  if (fields.boolOr(model.byte_fallback, "model.byte_fallback", false)) {
    fields.fail("model.byte_fallback", "false (byte fallback is not implemented)", true);
  }
  const vocab = fields.array(model.vocab, "model.vocab").map((entry, i) => {
    const pair = fields.array(entry, `model.vocab[${i}]`);
    return {
      piece: fields.string(pair[0], `model.vocab[${i}][0]`),
      score: fields.number(pair[1], `model.vocab[${i}][1]`),
    };
  });
  if (vocab.length === 0) fields.fail("model.vocab", "a non-empty list", []);
  const unkId = fields.index(model.unk_id, "model.unk_id", vocab.length);

  const normalize = parseStage(root.normalizer, fields, "normalizer", NORMALIZERS);
  const preTokenizer = parseStage(root.pre_tokenizer, fields, "pre_tokenizer", PRE_TOKENIZERS);
  const added = parseAddedTokens(root.added_tokens, fields);
  const addedByContent = new Map(added.map((t) => [t.content, t.id]));
  const vocabIds = new Map<string, number>();
  vocab.forEach((v, id) => vocabIds.set(v.piece, id));
  const tokenId = (content: string) => addedByContent.get(content) ?? vocabIds.get(content);
  const resolve = (name: string) =>
    tokenId(name) ?? fields.fail("post_processor", `a known token for ${name}`, name);
  const { prefixIds, suffixIds } = parseTemplate(root.post_processor, fields, resolve);

  let padId: number | undefined;
  if (root.padding !== null && root.padding !== undefined) {
    padId = fields.number(fields.object(root.padding, "padding").pad_id, "padding.pad_id");
  }

  const preTokenize = (text: string): PreToken[] => {
    const out: PreToken[] = [];
    let offset = 0;
    for (const part of splitAddedTokens(text, added)) {
      if (typeof part === "string") {
        const spans = preTokenizer([{ text: normalize(part), start: 0 }], offset === 0);
        for (const span of spans) if (span.text !== "") out.push({ text: span.text });
        offset += part.length;
      } else {
        out.push({ addedId: part.id, content: part.content });
        offset += part.content.length;
      }
    }
    return out;
  };
  return { vocab, unkId, addedTokens: added, preTokenize, prefixIds, suffixIds, tokenId, padId };
}
