/**
 * Protocol-buffers wire-format reader, just enough for SentencePiece's `ModelProto`: varints,
 * length-delimited fields and fixed32 floats, with skipping of every field we do not read.
 * A schema-free reader keeps the library free of a protobuf dependency; every malformed byte
 * sequence becomes a CheckpointError naming the file and the byte offset, never a RangeError.
 */

import { CheckpointError } from "../errors.ts";

/** Wire types of the encoding (3 and 4, the deprecated groups, are refused). */
export const WireType = {
  varint: 0,
  fixed64: 1,
  lengthDelimited: 2,
  fixed32: 5,
} as const;

/** One field key: the field number and how its payload is encoded. */
export interface FieldTag {
  field: number;
  wireType: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Sequential reader over one message's bytes; `context` names the message in errors. */
export class ProtoReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly context: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  private fail(what: string): never {
    throw new CheckpointError(`${this.context}: ${what} at byte ${this.pos}`);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) {
      this.fail(`truncated ${what} (need ${n} bytes, ${this.bytes.length - this.pos} left)`);
    }
  }

  /** Steps over `n` bytes that must all be there; returns where they start. */
  private take(n: number, what: string): number {
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return start;
  }

  /**
   * Reads a varint as `{ low32, value }`: `low32` is the low 32 bits (what an int32 field
   * means, since negative int32s are sign-extended to 10 bytes), `value` the whole number
   * when it fits 2^53 and NaN otherwise.
   */
  private varintParts(): { low32: number; value: number } {
    let low32 = 0;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail("truncated varint");
      const byte = this.bytes[this.pos++];
      const payload = byte & 0x7f;
      if (i < 5) low32 = (low32 | (payload << (7 * i))) >>> 0;
      value += payload * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) {
        return { low32, value: value <= Number.MAX_SAFE_INTEGER ? value : NaN };
      }
    }
    this.fail("varint longer than 10 bytes");
  }

  /** An unsigned varint that must fit a JS number exactly (lengths, enums, uint fields). */
  varint(): number {
    const { value } = this.varintParts();
    if (Number.isNaN(value)) this.fail("varint above 2^53");
    return value;
  }

  /** An int32 field (two's complement in the low 32 bits). */
  int32(): number {
    return this.varintParts().low32 | 0;
  }

  bool(): boolean {
    return this.varintParts().low32 !== 0;
  }

  /** A little-endian IEEE float (wire type 5). */
  float32(): number {
    return this.view.getFloat32(this.take(4, "fixed32"), true);
  }

  /** The payload of a length-delimited field, as a view into the message bytes. */
  bytesField(): Uint8Array {
    const length = this.varint();
    const start = this.take(length, "length-delimited field");
    return this.bytes.subarray(start, start + length);
  }

  /** A length-delimited field that must be valid UTF-8. */
  string(): string {
    const start = this.pos;
    const raw = this.bytesField();
    try {
      return utf8.decode(raw);
    } catch {
      this.pos = start;
      return this.fail("string field is not valid UTF-8");
    }
  }

  tag(): FieldTag {
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) this.fail("field number 0");
    return { field, wireType };
  }

  /** Skips the payload of a field we do not read. */
  skip(wireType: number): void {
    if (wireType === WireType.varint) this.varintParts();
    else if (wireType === WireType.lengthDelimited) this.bytesField();
    else if (wireType === WireType.fixed64) this.take(8, "fixed64");
    else if (wireType === WireType.fixed32) this.take(4, "fixed32");
    else this.fail(`unsupported wire type ${wireType}`);
  }

  /**
   * The tags of the message's fields in order, to its end. The loop body reads the fields it
   * knows with `read`; a field it leaves unread is skipped before the next tag, as protobuf
   * requires of unknown fields. (Every payload is at least one byte, so "unread" is "the
   * position did not move".)
   */
  *fields(): Generator<FieldTag> {
    while (!this.done) {
      const tag = this.tag();
      const payloadStart = this.pos;
      yield tag;
      if (this.pos === payloadStart) this.skip(tag.wireType);
    }
  }

  /** The payload of field `tag` (called `name` in errors) as `kind`, its wire type checked. */
  read<K extends FieldKind>(tag: FieldTag, kind: K, name: string): FieldValue[K] {
    this.expectWireType(tag, FIELD_KINDS[kind].wireType, name);
    return FIELD_KINDS[kind].read(this);
  }

  /** Refuses a known field encoded with an unexpected wire type (a corrupt or foreign file). */
  expectWireType(tag: FieldTag, wireType: number, name: string): void {
    if (tag.wireType !== wireType) {
      this.fail(
        `field ${name} (#${tag.field}) has wire type ${tag.wireType}, expected ${wireType}`,
      );
    }
  }
}

/** What each field kind reads as. */
interface FieldValue {
  string: string;
  bytes: Uint8Array;
  int32: number;
  bool: boolean;
  float32: number;
}
export type FieldKind = keyof FieldValue;

/** Each kind's wire type and reader. */
type KindReaders = { [K in FieldKind]: { wireType: number; read(r: ProtoReader): FieldValue[K] } };
const FIELD_KINDS: KindReaders = {
  string: { wireType: WireType.lengthDelimited, read: (r) => r.string() },
  bytes: { wireType: WireType.lengthDelimited, read: (r) => r.bytesField() },
  int32: { wireType: WireType.varint, read: (r) => r.int32() },
  bool: { wireType: WireType.varint, read: (r) => r.bool() },
  float32: { wireType: WireType.fixed32, read: (r) => r.float32() },
};
