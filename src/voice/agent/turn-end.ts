/**
 * How the callee's words so far end, as a cue to how long their silence must last before the agent
 * takes the turn (text only: recognisers give no punctuation, so this reads word order):
 * - `handover`: a question ("what time would suit you", "how can I help you today") or a goodbye; the
 *   callee is waiting for an answer, and a long gap reads as the line having dropped;
 * - `unfinished`: a conjunction, article, preposition or filler ("and", "the", "um"); the callee is
 *   still thinking, and answering now would cut them off;
 * - `statement`: anything else.
 */
export type TurnEnd = 'handover' | 'unfinished' | 'statement';

const WH = new Set(['what', 'when', 'where', 'who', 'whom', 'whose', 'which', 'why', 'how']);
const WH_CONTRACTED = new Set(['whats', 'whens', 'wheres', 'whos', 'whys', 'hows']);
const AUX = new Set([
  'is',
  'are',
  'was',
  'were',
  'am',
  'do',
  'does',
  'did',
  'can',
  'could',
  'will',
  'would',
  'shall',
  'should',
  'may',
  'might',
  'must',
  'have',
  'has',
  'had',
  'isnt',
  'arent',
  'dont',
  'doesnt',
  'didnt',
  'cant',
  'couldnt',
  'wont',
  'wouldnt',
  'shouldnt',
]);
const SUBJECT = new Set(['i', 'you', 'we', 'they', 'he', 'she', 'it', 'that', 'this', 'there', 'ya']);
/** Articles and possessives: never the last word of a finished sentence. */
const OPENERS = ['the', 'a', 'an', 'my', 'your', 'our', 'their'];
const DETERMINER = new Set([...OPENERS, 'his', 'her', 'its', 'any', 'some']);
const GOODBYE = new Set(['bye', 'goodbye', 'byebye']);
const UNFINISHED = new Set([
  ...OPENERS,
  ...['and', 'but', 'or', 'so', 'because', 'cause', 'if', 'then', 'than', 'like'],
  ...['um', 'uh', 'er', 'erm', 'uhm'],
  ...['to', 'of', 'for', 'with', 'at', 'in', 'on', 'from', 'by', 'about'],
]);

const COPULA = new Set(['is', 'are', 'was', 'were']);

/** How many of the last words a question may start in: it must be the end of what was said. */
const QUESTION_WINDOW = 8;

function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[^a-z\s]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Whether a question starts at `i`: "what time would you", "how can I", "would that", "at what time". */
function questionAt(w: string[], i: number): boolean {
  const next = w[i + 1];
  if (WH_CONTRACTED.has(w[i])) return true;
  if (WH.has(w[i])) {
    // "what time", "how many", "why": a bare wh-phrase ending the utterance asks.
    if (i >= w.length - 2) return true;
    if (AUX.has(next)) return true;
    // "what name should I", "how many people would that": wh, up to two words, then aux + subject.
    for (let j = i + 1; j <= i + 3 && j < w.length - 1; j++) {
      if (AUX.has(w[j]) && (SUBJECT.has(w[j + 1]) || DETERMINER.has(w[j + 1]))) return true;
    }
    return false;
  }
  // Inverted order, "would that work", "do you have": aux, then a subject pronoun. A subject right
  // before the aux makes it a statement ("I would like", "you can").
  return AUX.has(w[i]) && next !== undefined && SUBJECT.has(next) && !SUBJECT.has(w[i - 1] ?? '');
}

export function classifyTurnEnd(text: string): TurnEnd {
  const w = words(text);
  if (w.length === 0) return 'statement';
  const last = w[w.length - 1];
  if (GOODBYE.has(last)) return 'handover';
  for (let i = Math.max(0, w.length - QUESTION_WINDOW); i < w.length; i++) {
    if (questionAt(w, i)) return 'handover';
  }
  if (UNFINISHED.has(last)) return 'unfinished';
  // "my name is", "the number was": a copula after a noun waits for its complement ("yes it is" does not).
  if (COPULA.has(last) && w.length > 1 && !SUBJECT.has(w[w.length - 2])) return 'unfinished';
  return 'statement';
}

export interface TurnEndSilences {
  /** After a question or a goodbye (ms). */
  handoverMs: number;
  /** After anything else that reads as complete (ms). */
  statementMs: number;
  /** After a word that leaves the sentence open (ms). */
  unfinishedMs: number;
}

/** The silence that ends the callee's turn after `text`. */
export function endSilenceFor(text: string, s: TurnEndSilences): number {
  const kind = classifyTurnEnd(text);
  return kind === 'handover' ? s.handoverMs : kind === 'unfinished' ? s.unfinishedMs : s.statementMs;
}
