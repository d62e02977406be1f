/** Tunables of the clause splitter; the defaults suit a phone voice (short first clause, no run-ons). */
export interface ClauseSplitterOptions {
  /** A comma ends a clause only once the clause has at least this many words (so "Yes, sir" stays whole). */
  minWordsBeforeComma?: number;
  /** A clause with no punctuation is cut at a space once it reaches this many words, so TTS never waits long. */
  maxWords?: number;
  /**
   * The same two limits for the FIRST clause of a reply. The first clause decides when the callee
   * hears anything, so it is cut early: "Sure," or "Thank you," goes to TTS while the model is still
   * generating the rest (a comma or a short phrase is where a person would pause anyway).
   */
  firstMinWordsBeforeComma?: number;
  firstMaxWords?: number;
}

export interface ClauseSplitter {
  /** Feeds the next streamed text delta; returns the clauses it completed (trimmed, in order). */
  push(delta: string): string[];
  /** Ends the stream; returns what was left as a last clause, or null when nothing was. */
  flush(): string | null;
  /**
   * The whole words buffered so far (a word still being generated stays), as a clause cut short,
   * or null when there is none: for when the line would otherwise fall silent mid-reply.
   */
  takeWords(): string | null;
}

// Words whose trailing period does not end a sentence ("Dr. Smith", "e.g. this").
const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'st',
  'jr',
  'sr',
  'prof',
  'mt',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'approx',
  'no',
  'inc',
  'ltd',
]);

const STRONG = new Set(['.', '!', '?', ';', ':']);

function wordCount(s: string): number {
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
}

/**
 * Splits text streamed by the dialogue model into clauses that can go to TTS one by one: on . ! ? ; :
 * followed by a space, on commas once enough words came, and at a space when a clause grows too long.
 * A boundary is only known when the character after the punctuation arrives, so "3.5" or "10:30" never
 * split; a comma after a letter ends its clause at once.
 */
export function createClauseSplitter(options: ClauseSplitterOptions = {}): ClauseSplitter {
  const laterMinWordsBeforeComma = options.minWordsBeforeComma ?? 5;
  const laterMaxWords = options.maxWords ?? 28;
  let minWordsBeforeComma = options.firstMinWordsBeforeComma ?? 1;
  let maxWords = options.firstMaxWords ?? 8;
  let buf = '';
  // Characters of `buf` already examined, so each push scans only new text.
  let scanned = 0;

  function isAbbreviation(end: number): boolean {
    const before = buf.slice(0, end);
    const m = /([A-Za-z.]+)$/.exec(before);
    if (!m) return false;
    return ABBREVIATIONS.has(m[1].toLowerCase()) || /^[A-Za-z]$/.test(m[1]);
  }

  function take(end: number, out: string[]): void {
    const clause = buf.slice(0, end).trim();
    buf = buf.slice(end);
    scanned = 0;
    if (clause) {
      out.push(clause);
      minWordsBeforeComma = laterMinWordsBeforeComma;
      maxWords = laterMaxWords;
    }
  }

  return {
    push(delta) {
      const out: string[] = [];
      buf += delta;
      let i = Math.max(scanned, 1);
      while (i < buf.length) {
        const prev = buf[i - 1];
        const ch = buf[i];
        // A comma right after a letter cannot be inside a number ("3,000"): no need to wait for the
        // next character, which costs the first clause a whole decoding step of the model.
        if (ch === ',' && /\p{L}/u.test(prev) && wordCount(buf.slice(0, i + 1)) >= minWordsBeforeComma) {
          take(i + 1, out);
          i = 1;
          continue;
        }
        if (/\s/.test(ch)) {
          if (STRONG.has(prev) && !(prev === '.' && isAbbreviation(i - 1))) {
            take(i, out);
            i = 1;
            continue;
          }
          if (prev === ',' && wordCount(buf.slice(0, i)) >= minWordsBeforeComma) {
            take(i, out);
            i = 1;
            continue;
          }
          if (wordCount(buf.slice(0, i)) >= maxWords) {
            take(i, out);
            i = 1;
            continue;
          }
        }
        i++;
      }
      scanned = Math.max(buf.length, 1);
      // Drop leading whitespace so the next clause's first check starts on a word.
      if (!buf.trim()) {
        buf = '';
        scanned = 0;
      }
      return out;
    },
    takeWords() {
      const end = buf.search(/\s\S*$/);
      if (end <= 0 || !buf.slice(0, end).trim()) return null;
      const out: string[] = [];
      take(end, out);
      buf = buf.trimStart();
      return out[0] ?? null;
    },
    flush() {
      const rest = buf.trim();
      buf = '';
      scanned = 0;
      return rest || null;
    },
  };
}
