/**
 * Unigram-LM segmentation: the Viterbi best path over a normalized string, scored by the sum of
 * piece log-probabilities, as in sentencepiece's `EncodeOptimized` (and Hugging Face's port of
 * it). Tie-breaking follows upstream exactly — candidates are visited by start position, then
 * by increasing length, and only a strictly better score replaces a path — because equal-score
 * paths do occur and decide ids.
 */

/** One piece the segmenter may emit. */
export interface ScoredPiece {
  piece: string;
  id: number;
  score: number;
}

export interface UnigramOptions {
  unkId: number;
  /** Score of an unknown character: the lowest piece score minus 10 in both implementations. */
  unkScore: number;
  /**
   * sentencepiece keeps path scores in float32 (piece scores are added in double, then the sum
   * is stored as float; the unknown penalty is added in float); Hugging Face keeps float64.
   * The difference can flip near-ties, so each source uses its own arithmetic.
   */
  float32Paths: boolean;
}

/** A segmentation: ids and their surface strings, consecutive unknowns already fused. */
export interface Segmentation {
  ids: number[];
  pieces: string[];
}

/** Trie over UTF-16 code units; node 0 is the root. */
class PieceTrie {
  readonly children: Map<number, number>[] = [new Map()];
  readonly ids: number[] = [-1];
  readonly scores: number[] = [0];

  insert(piece: string, id: number, score: number): void {
    let node = 0;
    for (let i = 0; i < piece.length; i++) {
      const unit = piece.charCodeAt(i);
      let next = this.children[node].get(unit);
      if (next === undefined) {
        next = this.children.length;
        this.children.push(new Map());
        this.ids.push(-1);
        this.scores.push(0);
        this.children[node].set(unit, next);
      }
      node = next;
    }
    // The first occurrence keeps the piece, as sentencepiece refuses duplicates outright.
    if (this.ids[node] < 0) {
      this.ids[node] = id;
      this.scores[node] = score;
    }
  }
}

export class UnigramModel {
  private readonly trie = new PieceTrie();

  constructor(pieces: Iterable<ScoredPiece>, private readonly options: UnigramOptions) {
    for (const p of pieces) this.trie.insert(p.piece, p.id, p.score);
  }

  /** Segments `text` (already normalized); an empty text gives no pieces. */
  segment(text: string): Segmentation {
    const { unkId, float32Paths } = this.options;
    const unkScore = float32Paths ? Math.fround(this.options.unkScore) : this.options.unkScore;
    const n = text.length;
    // Best path ending at each UTF-16 position: its score, last piece id and where it starts.
    const bestScore = new Float64Array(n + 1);
    const bestId = new Int32Array(n + 1);
    const bestStart = new Int32Array(n + 1).fill(-1);
    const { children, ids, scores } = this.trie;

    for (let start = 0; start < n;) {
      const scoreHere = bestScore[start];
      const first = text.charCodeAt(start);
      const second = text.charCodeAt(start + 1);
      const charLength = first >= 0xd800 && first < 0xdc00 && second >= 0xdc00 && second < 0xe000
        ? 2
        : 1;
      let hasSingleCharPiece = false;
      let node = 0;
      for (let end = start; end < n;) {
        const next = children[node].get(text.charCodeAt(end));
        if (next === undefined) break;
        node = next;
        end++;
        const id = ids[node];
        if (id < 0) continue;
        const candidate = scores[node] + scoreHere;
        if (bestStart[end] < 0 || candidate > bestScore[end]) {
          bestScore[end] = float32Paths ? Math.fround(candidate) : candidate;
          bestStart[end] = start;
          bestId[end] = id;
        }
        if (end - start === charLength) hasSingleCharPiece = true;
      }
      if (!hasSingleCharPiece) {
        const end = start + charLength;
        const candidate = float32Paths ? Math.fround(unkScore + scoreHere) : unkScore + scoreHere;
        if (bestStart[end] < 0 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          bestStart[end] = start;
          bestId[end] = unkId;
        }
      }
      start += charLength;
    }

    const spans: number[] = [];
    for (let end = n; end > 0; end = bestStart[end]) spans.push(end);
    spans.reverse();
    const out: Segmentation = { ids: [], pieces: [] };
    let start = 0;
    for (const end of spans) {
      const id = bestId[end];
      const surface = text.slice(start, end);
      const last = out.ids.length - 1;
      // A run of unknown characters is one <unk>, whose surface is the whole run.
      if (id === unkId && last >= 0 && out.ids[last] === unkId) {
        out.pieces[last] += surface;
      } else {
        out.ids.push(id);
        out.pieces.push(surface);
      }
      start = end;
    }
    return out;
  }
}
