/**
 * Parsing SentencePiece's `spiece.model` (a serialized `ModelProto`) into the pieces, the
 * trainer's special-token settings and the normalizer spec. Only the fields tokenization
 * depends on are kept; proto2 defaults are filled in where a field is absent, because
 * sentencepiece itself behaves as if they were present.
 */

import { CheckpointError } from "../errors.ts";
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
  while (!reader.done) {
    const tag = reader.tag();
    if (tag.field === 1) {
      reader.expectWireType(tag, WireType.lengthDelimited, "piece");
      out.piece = reader.string();
    } else if (tag.field === 2) {
      reader.expectWireType(tag, WireType.fixed32, "score");
      out.score = reader.float32();
    } else if (tag.field === 3) {
      reader.expectWireType(tag, WireType.varint, "type");
      out.type = reader.int32();
    } else {
      reader.skip(tag.wireType);
    }
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
  while (!reader.done) {
    const tag = reader.tag();
    if (varints[tag.field]) {
      reader.expectWireType(tag, WireType.varint, `#${tag.field}`);
      varints[tag.field](reader);
    } else if (strings[tag.field]) {
      reader.expectWireType(tag, WireType.lengthDelimited, `#${tag.field}`);
      strings[tag.field](reader.string());
    } else {
      reader.skip(tag.wireType);
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
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag.field) {
      case 1:
        reader.expectWireType(tag, WireType.lengthDelimited, "name");
        spec.name = reader.string();
        break;
      case 2:
        reader.expectWireType(tag, WireType.lengthDelimited, "precompiled_charsmap");
        spec.precompiledCharsmap = reader.bytesField();
        break;
      case 3:
        reader.expectWireType(tag, WireType.varint, "add_dummy_prefix");
        spec.addDummyPrefix = reader.bool();
        break;
      case 4:
        reader.expectWireType(tag, WireType.varint, "remove_extra_whitespaces");
        spec.removeExtraWhitespaces = reader.bool();
        break;
      case 5:
        reader.expectWireType(tag, WireType.varint, "escape_whitespaces");
        spec.escapeWhitespaces = reader.bool();
        break;
      default:
        reader.skip(tag.wireType);
    }
  }
  return spec;
}

function concatChunks(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
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
  while (!reader.done) {
    const tag = reader.tag();
    if (tag.field === 1) {
      reader.expectWireType(tag, WireType.lengthDelimited, "pieces");
      pieceBytes.push(reader.bytesField());
    } else if (tag.field === 2) {
      reader.expectWireType(tag, WireType.lengthDelimited, "trainer_spec");
      trainerChunks.push(reader.bytesField());
    } else if (tag.field === 3) {
      reader.expectWireType(tag, WireType.lengthDelimited, "normalizer_spec");
      normalizerChunks.push(reader.bytesField());
    } else {
      reader.skip(tag.wireType);
    }
  }
  if (pieceBytes.length === 0) {
    throw new CheckpointError(`${source}: no pieces found (expected a SentencePiece ModelProto)`);
  }
  if (normalizerChunks.length === 0) {
    throw new CheckpointError(`${source}: normalizer_spec is missing`);
  }
  return {
    pieces: pieceBytes.map((b, i) => readPiece(b, i, source)),
    trainer: readTrainerSpec(concatChunks(trainerChunks), source),
    normalizer: readNormalizerSpec(concatChunks(normalizerChunks), source),
  };
}
