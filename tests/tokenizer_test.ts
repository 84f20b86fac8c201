/**
 * T5 tokenizer against the golden set (ids from sentencepiece itself), through both the
 * `spiece.model` and the `tokenizer.json` paths, plus the error paths on corrupt inputs.
 */

import { CheckpointError, OptionError } from "../src/errors.ts";
import { PrecompiledCharsmap } from "../src/text/charsmap.ts";
import { T5Tokenizer } from "../src/text/t5_tokenizer.ts";
import { assertThrows } from "./asserts.ts";
import { goldenDir } from "./helpers.ts";

interface PaddedCase {
  input_ids: number[];
  attention_mask: number[];
}

interface GoldenCase {
  name: string;
  text: string;
  ids: number[];
  pieces: string[];
  normalized: string;
  max_length_16: PaddedCase;
  max_length_120: PaddedCase;
}

const folder = `${goldenDir()}/t5-tokenizer`;
const spieceBytes = () => Deno.readFileSync(`${folder}/spiece.model`);
const tokenizerJsonText = () => Deno.readTextFileSync(`${folder}/tokenizer.json`);

function goldenCases(): GoldenCase[] {
  const cases = JSON.parse(Deno.readTextFileSync(`${folder}/cases.json`)).cases as GoldenCase[];
  const manifest = JSON.parse(Deno.readTextFileSync(`${goldenDir()}/manifest.json`));
  const expected = manifest.cases["t5-tokenizer"].n_cases;
  assertEqual(cases.length, expected, "cases.json case count vs manifest n_cases");
  return cases;
}

function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}:\n  got      ${a}\n  expected ${e}`);
}

/** Compares every golden case and reports all mismatches at once, not just the first. */
function checkGolden(tokenizer: T5Tokenizer): void {
  const cases = goldenCases();
  const failures: string[] = [];
  const check = (name: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      failures.push(`${name}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
    }
  };
  for (const c of cases) {
    const encoded = tokenizer.encode(c.text);
    check(`${c.name} ids`, encoded.ids, c.ids);
    check(`${c.name} pieces`, encoded.pieces, [...c.pieces, "</s>"]);
    check(`${c.name} normalized`, tokenizer.normalize(c.text), c.normalized);
  }
  for (const length of [16, 120] as const) {
    const batch = tokenizer.encodePadded(cases.map((c) => c.text), length);
    cases.forEach((c, row) => {
      const golden = c[`max_length_${length}`];
      const rows = (a: Int32Array) => [...a.subarray(row * length, (row + 1) * length)];
      check(`${c.name} input_ids[${length}]`, rows(batch.inputIds), golden.input_ids);
      check(
        `${c.name} attention_mask[${length}]`,
        rows(batch.attentionMask),
        golden.attention_mask,
      );
      check(`${c.name} truncated[${length}]`, batch.truncated[row], c.ids.length > length);
    });
  }
  if (failures.length > 0) {
    throw new Error(`${failures.length} mismatches:\n${failures.slice(0, 20).join("\n")}`);
  }
}

/** The vocabulary size, the pad/eos/unk ids (0, 1, 2) and every golden case. */
function checkTokenizer(tokenizer: T5Tokenizer, vocabSize: number): void {
  assertEqual(
    [tokenizer.vocabSize, tokenizer.padId, tokenizer.eosId, tokenizer.unkId],
    [vocabSize, 0, 1, 2],
    "vocabSize, padId, eosId, unkId",
  );
  checkGolden(tokenizer);
}

Deno.test("t5 tokenizer: spiece.model matches every golden case", () => {
  checkTokenizer(T5Tokenizer.fromSentencePiece(spieceBytes()), 2000);
});

Deno.test("t5 tokenizer: tokenizer.json matches every golden case", () => {
  const tokenizer = T5Tokenizer.fromTokenizerJson(tokenizerJsonText());
  checkTokenizer(tokenizer, 2100);
  // Parsed JSON is accepted as well as text.
  const fromObject = T5Tokenizer.fromTokenizerJson(JSON.parse(tokenizerJsonText()));
  assertEqual(fromObject.encode("a cat").ids, tokenizer.encode("a cat").ids, "object vs text");
});

Deno.test("t5 tokenizer: empty and blank text encode to just </s>", () => {
  for (
    const tokenizer of [
      T5Tokenizer.fromSentencePiece(spieceBytes()),
      T5Tokenizer.fromTokenizerJson(tokenizerJsonText()),
    ]
  ) {
    for (const text of ["", " ", "\u200b\n\t"]) {
      assertEqual(tokenizer.encode(text), { ids: [1], pieces: ["</s>"] }, JSON.stringify(text));
      assertEqual(tokenizer.normalize(text), "", `normalize ${JSON.stringify(text)}`);
    }
    const batch = tokenizer.encodePadded([""], 4);
    assertEqual([...batch.inputIds], [1, 0, 0, 0], "padded empty ids");
    assertEqual([...batch.attentionMask], [1, 0, 0, 0], "padded empty mask");
  }
});

Deno.test("t5 tokenizer: truncation keeps </s> last and flags the row", () => {
  const tokenizer = T5Tokenizer.fromSentencePiece(spieceBytes());
  const long = "a cat and a dog ".repeat(10);
  const full = tokenizer.encode(long).ids;
  const exact = tokenizer.encode("a cat").ids;
  const batch = tokenizer.encodePadded([long, "a cat", "a cat"], exact.length);
  assertEqual(batch.truncated, [true, false, false], "truncated flags");
  const n = exact.length;
  assertEqual([...batch.inputIds.subarray(0, n)], [...full.slice(0, n - 1), 1], "truncated row");
  assertEqual([...batch.inputIds.subarray(n, 2 * n)], exact, "row that fits exactly");
  assertEqual([...batch.attentionMask], new Array(3 * n).fill(1), "mask");
  assertThrows(() => tokenizer.encodePadded(["a"], 1), OptionError, "maxLength");
});

Deno.test("t5 tokenizer: special-token strings are text for spiece.model, ids for tokenizer.json", () => {
  const text = "<extra_id_0> a cat</s>";
  const spm = T5Tokenizer.fromSentencePiece(spieceBytes()).encode(text);
  const hf = T5Tokenizer.fromTokenizerJson(tokenizerJsonText()).encode(text);
  assertEqual(spm.ids.filter((id) => id === 1).length, 1, "sentencepiece: only the appended </s>");
  assertEqual(spm.ids.includes(2099), false, "sentencepiece: no <extra_id_0> id");
  assertEqual(hf.ids[0], 2099, "tokenizers: <extra_id_0> is id 2099");
  assertEqual(hf.pieces[0], "<extra_id_0>", "tokenizers: its piece");
  assertEqual(hf.ids.slice(-2), [1, 1], "tokenizers: </s> in the text, then the appended one");
});

// ---- corrupt and unsupported inputs -------------------------------------------------------

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}
const field = (n: number, wire: number) => varint(n * 8 + wire);
const varintField = (n: number, value: number) => [...field(n, 0), ...varint(value)];
const bytesField = (n: number, bytes: ArrayLike<number>) => [
  ...field(n, 2),
  ...varint(bytes.length),
  ...Array.from(bytes),
];
const stringField = (n: number, s: string) => bytesField(n, new TextEncoder().encode(s));
function floatField(n: number, value: number): number[] {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return [...field(n, 5), ...bytes];
}

/** A tiny ModelProto: T5's specials, a few pieces, identity normalization unless given a map. */
function tinyModel(
  options: { modelType?: number; charsmap?: number[]; unkType?: number } = {},
): Uint8Array {
  const pieces: [string, number, number][] = [
    ["<pad>", 0, 3],
    ["</s>", 0, 3],
    ["<unk>", 0, options.unkType ?? 2],
    ["\u2581", -1, 1],
    ["a", -2, 1],
    ["\u2581a", -1.5, 1],
    ["b", -3, 1],
    ["ab", -3.5, 1],
  ];
  const piece = ([text, score, type]: [string, number, number]) =>
    bytesField(1, [...stringField(1, text), ...floatField(2, score), ...varintField(3, type)]);
  const trainer = bytesField(2, [
    ...varintField(3, options.modelType ?? 1),
    ...varintField(40, 2),
    ...varintField(41, -1),
    ...varintField(42, 1),
    ...varintField(43, 0),
  ]);
  const normalizer = bytesField(3, [
    ...stringField(1, options.charsmap ? "nmt_nfkc" : "identity"),
    ...(options.charsmap ? bytesField(2, options.charsmap) : []),
  ]);
  return new Uint8Array([...pieces.flatMap(piece), ...trainer, ...normalizer]);
}

Deno.test("t5 tokenizer: a hand-built model segments, collapses spaces and fuses unknowns", () => {
  const tokenizer = T5Tokenizer.fromSentencePiece(tinyModel());
  assertEqual(tokenizer.normalize("  a   b "), "\u2581a\u2581b", "normalized");
  // "▁a" (-1.5) beats "▁" + "a" (-3); the unknown run "xyz" is one <unk> with its surface.
  assertEqual(tokenizer.encode("a  b xyz"), {
    ids: [5, 3, 6, 3, 2, 1],
    pieces: ["\u2581a", "\u2581", "b", "\u2581", "xyz", "</s>"],
  }, "encode");
  // "▁"+"ab" and "▁a"+"b" both score -4.5: the path found first (earlier start) is kept.
  assertEqual(tokenizer.encode("ab").ids, [3, 7, 1], "tie");
});

Deno.test("t5 tokenizer: corrupt spiece.model bytes give a CheckpointError naming the file", () => {
  const bytes = spieceBytes();
  assertThrows(
    () => T5Tokenizer.fromSentencePiece(bytes.slice(0, bytes.length - 1)),
    CheckpointError,
    "spiece.model: truncated",
  );
  assertThrows(
    () => T5Tokenizer.fromSentencePiece(bytes.slice(0, 7), "my/spiece.model"),
    CheckpointError,
    "my/spiece.model: truncated length-delimited field",
  );
  assertThrows(() => T5Tokenizer.fromSentencePiece(new Uint8Array()), CheckpointError, "no pieces");
  const wrongWire = bytes.slice();
  wrongWire[0] = 0x0d; // field 1 with wire type 5
  assertThrows(() => T5Tokenizer.fromSentencePiece(wrongWire), CheckpointError, "wire type 5");
  assertThrows(
    () => T5Tokenizer.fromSentencePiece(new TextEncoder().encode("plain text, not a model")),
    CheckpointError,
    "spiece.model",
  );
});

Deno.test("t5 tokenizer: unsupported or inconsistent models are refused by name", () => {
  assertThrows(
    () => T5Tokenizer.fromSentencePiece(tinyModel({ modelType: 2 })),
    CheckpointError,
    "trainer_spec.model_type is 2",
  );
  assertThrows(
    () => T5Tokenizer.fromSentencePiece(tinyModel({ unkType: 3 })),
    CheckpointError,
    "0 pieces of type UNKNOWN",
  );
  // Header says a 64-byte trie, but only 8 bytes follow.
  assertThrows(
    () =>
      T5Tokenizer.fromSentencePiece(tinyModel({ charsmap: [64, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8] })),
    CheckpointError,
    "normalizer_spec.precompiled_charsmap: trie size 64",
  );
});

Deno.test("t5 tokenizer: a charsmap pointing outside itself fails with a CheckpointError", () => {
  // One unit whose offset sends the first byte's lookup far past the 1-unit array.
  const unit = (1000 << 10) >>> 0;
  const blob = new Uint8Array([
    4,
    0,
    0,
    0,
    unit & 0xff,
    (unit >> 8) & 0xff,
    (unit >> 16) & 0xff,
    0,
  ]);
  const charsmap = new PrecompiledCharsmap(blob, "test charsmap");
  assertThrows(() => charsmap.apply("a"), CheckpointError, "test charsmap: trie unit");
});

Deno.test("t5 tokenizer: tokenizer.json problems are named errors", () => {
  const json = () => JSON.parse(tokenizerJsonText());
  const bpe = json();
  bpe.model.type = "BPE";
  assertThrows(
    () => T5Tokenizer.fromTokenizerJson(bpe),
    CheckpointError,
    "model.type: expected Unigram",
  );
  const noVocab = json();
  delete noVocab.model.vocab;
  assertThrows(() => T5Tokenizer.fromTokenizerJson(noVocab), CheckpointError, "model.vocab");
  const nfkc = json();
  nfkc.normalizer = { type: "Sequence", normalizers: [nfkc.normalizer, { type: "NFKC" }] };
  assertThrows(
    () => T5Tokenizer.fromTokenizerJson(nfkc),
    CheckpointError,
    'normalizer.normalizers[1].type: expected Precompiled, Replace, Strip or Sequence, found "NFKC"',
  );
  const bert = json();
  bert.pre_tokenizer = { type: "BertPreTokenizer" };
  assertThrows(() => T5Tokenizer.fromTokenizerJson(bert), CheckpointError, "pre_tokenizer.type");
  const cut = json();
  cut.normalizer.precompiled_charsmap = cut.normalizer.precompiled_charsmap.slice(0, 400);
  assertThrows(
    () => T5Tokenizer.fromTokenizerJson(cut, "t5/tokenizer.json"),
    CheckpointError,
    "t5/tokenizer.json: normalizer.precompiled_charsmap: trie size",
  );
  assertThrows(() => T5Tokenizer.fromTokenizerJson("{not json"), CheckpointError, "not valid JSON");
});
