/**
 * The T5 text tokenizer: SentencePiece Unigram ids for a caption, `</s>` appended, and the
 * fixed-length padded batch a T5 encoder takes. It reads either the original `spiece.model`
 * (reproducing sentencepiece itself) or a Hugging Face `tokenizer.json` (reproducing the
 * `tokenizers` pipeline it describes); the two agree on ordinary text, and each follows its own
 * upstream where they could differ (path-score precision, special-token strings in the text).
 */

import { CheckpointError, OptionError } from "../errors.ts";
import { normalizeSentencePiece, PrecompiledCharsmap } from "./charsmap.ts";
import { parseSentencePieceModel, PieceType } from "./sentencepiece_model.ts";
import { parseTokenizerJson, type PreToken } from "./tokenizer_json.ts";
import { type ScoredPiece, UnigramModel } from "./unigram.ts";

/** Unknown characters cost this much below the rarest piece, in both upstreams. */
const UNK_PENALTY = 10;

/** Ids and the piece string of each id (the surface text for `<unk>`, the token for specials). */
export interface EncodedText {
  ids: number[];
  pieces: string[];
}

/** A batch in T5's `padding="max_length", truncation=True` layout, row-major [texts, maxLength]. */
export interface PaddedBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  /** Whether each text lost tokens to fit. */
  truncated: boolean[];
}

interface TokenizerParts {
  model: UnigramModel;
  preTokenize: (text: string) => PreToken[];
  idToPiece: string[];
  prefixIds: number[];
  suffixIds: number[];
  padId: number;
  eosId: number;
  unkId: number;
}

export class T5Tokenizer {
  private constructor(private readonly parts: TokenizerParts) {}

  /** From the bytes of a SentencePiece `spiece.model`; `source` names the file in errors. */
  static fromSentencePiece(bytes: Uint8Array, source = "spiece.model"): T5Tokenizer {
    const proto = parseSentencePieceModel(bytes, source);
    const { pieces, trainer, normalizer } = proto;
    if (trainer.modelType !== 1) {
      throw new CheckpointError(
        `${source}: trainer_spec.model_type is ${trainer.modelType}, expected 1 (unigram)`,
      );
    }
    if (trainer.byteFallback) {
      throw new CheckpointError(`${source}: trainer_spec.byte_fallback is set; not implemented`);
    }
    const unsupported = pieces.findIndex((p) =>
      p.type === PieceType.userDefined || p.type === PieceType.byte
    );
    if (unsupported >= 0) {
      throw new CheckpointError(
        `${source}: pieces[${unsupported}] has type ${pieces[unsupported].type} ` +
          `(user-defined or byte); only normal, control, unknown and unused are implemented`,
      );
    }
    const unkIds = pieces.flatMap((p, id) => p.type === PieceType.unknown ? [id] : []);
    if (unkIds.length !== 1) {
      throw new CheckpointError(
        `${source}: ${unkIds.length} pieces of type UNKNOWN, expected exactly one`,
      );
    }
    // Like sentencepiece, special ids come from the trainer's piece names, not its id fields.
    const controlId = (name: string, field: string) => {
      const id = pieces.findIndex((p) => p.piece === name);
      if (id < 0 || pieces[id].type !== PieceType.control) {
        throw new CheckpointError(
          `${source}: trainer_spec.${field} "${name}" is not a CONTROL piece (T5 needs it)`,
        );
      }
      return id;
    };
    const eosId = controlId(trainer.eosPiece, "eos_piece");
    const padId = controlId(trainer.padPiece, "pad_piece");

    const normal: ScoredPiece[] = [];
    let minScore = Infinity;
    pieces.forEach((p, id) => {
      if (p.type !== PieceType.normal) return;
      normal.push({ piece: p.piece, id, score: p.score });
      minScore = Math.min(minScore, p.score);
    });
    if (normal.length === 0) throw new CheckpointError(`${source}: no NORMAL pieces`);
    const model = new UnigramModel(normal, {
      unkId: unkIds[0],
      unkScore: Math.fround(minScore - UNK_PENALTY),
      float32Paths: true,
    });
    const charsmap = normalizer.precompiledCharsmap.length > 0
      ? new PrecompiledCharsmap(
        normalizer.precompiledCharsmap,
        `${source}: normalizer_spec.precompiled_charsmap`,
      )
      : undefined;
    const preTokenize = (text: string): PreToken[] => {
      const normalized = normalizeSentencePiece(text, charsmap, normalizer);
      return normalized === "" ? [] : [{ text: normalized }];
    };
    return new T5Tokenizer({
      model,
      preTokenize,
      idToPiece: pieces.map((p) => p.piece),
      prefixIds: [],
      suffixIds: [eosId],
      padId,
      eosId,
      unkId: unkIds[0],
    });
  }

  /** From a Hugging Face `tokenizer.json` (its text or parsed JSON). */
  static fromTokenizerJson(json: unknown, source = "tokenizer.json"): T5Tokenizer {
    const parsed = parseTokenizerJson(json, source);
    // tokenizers maps a piece string to the last id holding it.
    const byPiece = new Map<string, ScoredPiece>();
    let minScore = Infinity;
    parsed.vocab.forEach((v, id) => {
      byPiece.set(v.piece, { piece: v.piece, id, score: v.score });
      minScore = Math.min(minScore, v.score);
    });
    const model = new UnigramModel(byPiece.values(), {
      unkId: parsed.unkId,
      unkScore: minScore - UNK_PENALTY,
      float32Paths: false,
    });
    const idToPiece = parsed.vocab.map((v) => v.piece);
    const required = (name: string, what: string) => {
      const id = parsed.tokenId(name);
      if (id === undefined) {
        throw new CheckpointError(`${source}: no ${what} token "${name}" in added_tokens or vocab`);
      }
      return id;
    };
    const eosId = parsed.suffixIds.length === 1 ? parsed.suffixIds[0] : required("</s>", "eos");
    const padId = parsed.padId ?? required("<pad>", "pad");
    // Added tokens may lie past the vocab; their content is their piece string.
    for (const token of parsed.addedTokens) idToPiece[token.id] = token.content;
    for (let id = 0; id < idToPiece.length; id++) idToPiece[id] ??= "";
    return new T5Tokenizer({
      model,
      preTokenize: parsed.preTokenize,
      idToPiece,
      prefixIds: parsed.prefixIds,
      suffixIds: parsed.suffixIds,
      padId,
      eosId,
      unkId: parsed.unkId,
    });
  }

  get vocabSize(): number {
    return this.parts.idToPiece.length;
  }

  get padId(): number {
    return this.parts.padId;
  }

  get eosId(): number {
    return this.parts.eosId;
  }

  get unkId(): number {
    return this.parts.unkId;
  }

  /** The text the unigram model segments (U+2581 for spaces, dummy prefix included). */
  normalize(text: string): string {
    return this.parts.preTokenize(text)
      .map((pre) => "text" in pre ? pre.text : pre.content)
      .join("");
  }

  /** Ids and pieces of `text` without the post-processor's special tokens. */
  private encodeBody(text: string): EncodedText {
    const out: EncodedText = { ids: [], pieces: [] };
    for (const pre of this.parts.preTokenize(text)) {
      if ("addedId" in pre) {
        out.ids.push(pre.addedId);
        out.pieces.push(pre.content);
        continue;
      }
      const segmented = this.parts.model.segment(pre.text);
      out.ids.push(...segmented.ids);
      out.pieces.push(...segmented.pieces);
    }
    return out;
  }

  private specials(ids: number[]): EncodedText {
    return { ids: [...ids], pieces: ids.map((id) => this.parts.idToPiece[id] ?? "") };
  }

  /** Ids of `text` ending with `</s>`; `pieces[i]` is the string of `ids[i]`. */
  encode(text: string): EncodedText {
    const body = this.encodeBody(text);
    const prefix = this.specials(this.parts.prefixIds);
    const suffix = this.specials(this.parts.suffixIds);
    return {
      ids: [...prefix.ids, ...body.ids, ...suffix.ids],
      pieces: [...prefix.pieces, ...body.pieces, ...suffix.pieces],
    };
  }

  /**
   * Encodes each text to exactly `maxLength` ids: a text too long keeps its first tokens and
   * still ends with `</s>` (T5's truncation), a short one is padded with the pad id; the mask
   * is 1 on real tokens and `</s>`, 0 on padding.
   */
  encodePadded(texts: string[], maxLength: number): PaddedBatch {
    const { prefixIds, suffixIds, padId } = this.parts;
    const specialCount = prefixIds.length + suffixIds.length;
    if (!Number.isInteger(maxLength) || maxLength <= specialCount) {
      throw new OptionError(
        `encodePadded: maxLength must be an integer above ${specialCount}, got ${maxLength}`,
      );
    }
    const inputIds = new Int32Array(texts.length * maxLength).fill(padId);
    const attentionMask = new Int32Array(texts.length * maxLength);
    const truncated = texts.map((text, row) => {
      const body = this.encodeBody(text).ids;
      const room = maxLength - specialCount;
      const ids = [...prefixIds, ...body.slice(0, room), ...suffixIds];
      inputIds.set(ids, row * maxLength);
      attentionMask.fill(1, row * maxLength, row * maxLength + ids.length);
      return body.length > room;
    });
    return { inputIds, attentionMask, truncated };
  }
}
