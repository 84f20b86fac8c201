/**
 * Parsing SentencePiece's `spiece.model` (a serialized `ModelProto`) into the pieces, the
 * trainer's special-token settings and the normalizer spec. Only the fields tokenization
 * depends on are kept; proto2 defaults are filled in where a field is absent, because
 * sentencepiece itself behaves as if they were present.
 */

import { CheckpointError } from "../errors.ts";
import { concatBytes } from "../io/bytes.ts";
import { ProtoReader, WireType } from "./protobuf.ts";

/** `ModelProto.SentencePiece.Type`. */
export const PieceType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

/** The `TrainerSpec` fields that decide special ids and the segmentation algorithm. */
export interface TrainerSpec {
  /** 1 = unigram, 2 = BPE, 3 = word, 4 = char. */
  modelType: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  trainer: TrainerSpec;
  normalizer: NormalizerSpec;
}

function readPiece(bytes: Uint8Array, index: number, source: string): SentencePiece {
  const reader = new ProtoReader(bytes, `${source}: pieces[${index}]`);
  const out: SentencePiece = { piece: "", score: 0, type: PieceType.normal };
  for (const tag of reader.fields()) {
    if (tag.field === 1) out.piece = reader.read(tag, "string", "piece");
    else if (tag.field === 2) out.score = reader.read(tag, "float32", "score");
    else if (tag.field === 3) out.type = reader.read(tag, "int32", "type");
  }
  if (out.piece === "") {
    throw new CheckpointError(`${source}: pieces[${index}] has an empty piece string`);
  }
  if (out.type < PieceType.normal || out.type > PieceType.byte) {
    throw new CheckpointError(`${source}: pieces[${index}] has type ${out.type}, expected 1..6`);
  }
  return out;
}

function readTrainerSpec(bytes: Uint8Array, source: string): TrainerSpec {
  const reader = new ProtoReader(bytes, `${source}: trainer_spec`);
  const spec: TrainerSpec = {
    modelType: 1,
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    unkPiece: "<unk>",
    bosPiece: "<s>",
    eosPiece: "</s>",
    padPiece: "<pad>",
  };
  const varints: Record<number, (r: ProtoReader) => void> = {
    3: (r) => spec.modelType = r.int32(),
    35: (r) => spec.byteFallback = r.bool(),
    40: (r) => spec.unkId = r.int32(),
    41: (r) => spec.bosId = r.int32(),
    42: (r) => spec.eosId = r.int32(),
    43: (r) => spec.padId = r.int32(),
  };
  const strings: Record<number, (value: string) => void> = {
    45: (v) => spec.unkPiece = v,
    46: (v) => spec.bosPiece = v,
    47: (v) => spec.eosPiece = v,
    48: (v) => spec.padPiece = v,
  };
  for (const tag of reader.fields()) {
    if (varints[tag.field]) {
      reader.expectWireType(tag, WireType.varint, `#${tag.field}`);
      varints[tag.field](reader);
    } else if (strings[tag.field]) {
      strings[tag.field](reader.read(tag, "string", `#${tag.field}`));
    }
  }
  return spec;
}

function readNormalizerSpec(bytes: Uint8Array, source: string): NormalizerSpec {
  const reader = new ProtoReader(bytes, `${source}: normalizer_spec`);
  const spec: NormalizerSpec = {
    name: "",
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  for (const tag of reader.fields()) {
    if (tag.field === 1) {
      spec.name = reader.read(tag, "string", "name");
    } else if (tag.field === 2) {
      spec.precompiledCharsmap = reader.read(tag, "bytes", "precompiled_charsmap");
    } else if (tag.field === 3) {
      spec.addDummyPrefix = reader.read(tag, "bool", "add_dummy_prefix");
    } else if (tag.field === 4) {
      spec.removeExtraWhitespaces = reader.read(tag, "bool", "remove_extra_whitespaces");
    } else if (tag.field === 5) {
      spec.escapeWhitespaces = reader.read(tag, "bool", "escape_whitespaces");
    }
  }
  return spec;
}

/**
 * Parses `spiece.model` bytes. `source` names the file in error messages. A singular
 * sub-message that occurs twice is parsed from the concatenation of its occurrences, which is
 * protobuf's merge rule.
 */
export function parseSentencePieceModel(
  bytes: Uint8Array,
  source = "spiece.model",
): SentencePieceModel {
  const reader = new ProtoReader(bytes, source);
  const pieceBytes: Uint8Array[] = [];
  const trainerChunks: Uint8Array[] = [];
  const normalizerChunks: Uint8Array[] = [];
  for (const tag of reader.fields()) {
    if (tag.field === 1) pieceBytes.push(reader.read(tag, "bytes", "pieces"));
    else if (tag.field === 2) trainerChunks.push(reader.read(tag, "bytes", "trainer_spec"));
    else if (tag.field === 3) normalizerChunks.push(reader.read(tag, "bytes", "normalizer_spec"));
  }
  if (pieceBytes.length === 0) {
    throw new CheckpointError(`${source}: no pieces found (expected a SentencePiece ModelProto)`);
  }
  if (normalizerChunks.length === 0) {
    throw new CheckpointError(`${source}: normalizer_spec is missing`);
  }
  return {
    pieces: pieceBytes.map((b, i) => readPiece(b, i, source)),
    trainer: readTrainerSpec(concatBytes(trainerChunks), source),
    normalizer: readNormalizerSpec(concatBytes(normalizerChunks), source),
  };
}
