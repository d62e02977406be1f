import type { DialogueScript } from '../../../src/voice/dialogue/scripted.js';

/** Number words a recogniser writes for a count, with the homophones it confuses them with. */
const COUNTS: Record<string, number> = {
  one: 1,
  won: 1,
  two: 2,
  to: 2,
  too: 2,
  three: 3,
  four: 4,
  for: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};

const HOURS = [
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
];

const countOf = (w: string): number | null =>
  /^\d+$/.test(w) ? Number(w) : Object.hasOwn(COUNTS, w) ? COUNTS[w] : null;

function calleeLines(transcript: string): string[] {
  return transcript
    .split('\n')
    .filter((l) => l.startsWith('Callee: '))
    .map((l) =>
      l
        .slice(8)
        .toLowerCase()
        .replace(/[^a-z0-9' ]+/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
}

/**
 * The host's confirmation as the agent heard it, "your table for four at seven thirty p m is booked
 * under smith" (digits or words; "for" for "four" and "and" for "at" as recognisers write them): the
 * count and the words after it. Only the callee's words count: the agent's own line proves nothing.
 */
function confirmation(transcript: string): { count: number; rest: string } | null {
  for (const line of calleeLines(transcript)) {
    const m = /table (?:for|four) (\w+)(.*)$/.exec(line);
    const count = m ? countOf(m[1]) : null;
    if (m && count !== null && /booked/.test(m[2])) return { count, rest: m[2] };
  }
  return null;
}

/** The time in the confirmation's words: "seven thirty p m" or "7 30 pm" → "7:30 pm". */
function timeOf(rest: string): string | null {
  const hour = `\\d{1,2}|${HOURS.join('|')}`;
  const m = new RegExp(
    `\\b(${hour})\\b(?: (thirty|fifteen|forty five|30|15|45))?(?: (p m|pm|a m|am|in the evening|in the morning)\\b)?`,
  ).exec(rest);
  if (!m) return null;
  const h = /^\d+$/.test(m[1]) ? Number(m[1]) : HOURS.indexOf(m[1]) + 1;
  const minutes =
    { thirty: ':30', '30': ':30', fifteen: ':15', '15': ':15' }[m[2] ?? ''] ?? (m[2] ? ':45' : '');
  const suffix = !m[3] ? '' : /evening|p/.test(m[3]) ? ' pm' : ' am';
  return `${h}${minutes}${suffix}`;
}

/**
 * The agent's side of a table booking with Luigi's (+14155550100). Rules are keyed on several words of
 * each of the host's lines. Extraction reads only the host's spoken confirmation ("your table for four
 * at seven thirty p m is booked under smith") for the party size, the time and the name: a value the
 * callee's side never said is not extracted.
 */
export const bookingScript: DialogueScript = {
  opening: 'Hello, I would like to book a table for dinner, please.',
  rules: [
    {
      match: /booked|goodbye|\bbye\b|confirmed/i,
      action: { action: 'end', outcome: 'objective_met', say: 'Thank you very much, goodbye.' },
    },
    { match: /\bname\b|under/i, action: { action: 'speak', say: 'Under Smith.' } },
    {
      match: /\btime\b|what time|\bwhen\b/i,
      action: { action: 'speak', say: 'At seven thirty in the evening.' },
    },
    { match: /how many|many|people|persons/i, action: { action: 'speak', say: 'Four people, please.' } },
    {
      match: /help|book|table|calling/i,
      action: { action: 'speak', say: 'I would like to book a table for dinner, please.' },
    },
  ],
  fallback: 'I would like to book a table for dinner, please.',
  extract: {
    party_size: (transcript) => confirmation(transcript)?.count ?? null,
    time: (transcript) => {
      const c = confirmation(transcript);
      return c ? timeOf(c.rest) : null;
    },
    name: (transcript) => {
      const m = / booked under (\w+)/.exec(confirmation(transcript)?.rest ?? '');
      return m ? m[1][0].toUpperCase() + m[1].slice(1) : null;
    },
  },
  summary: (transcript) =>
    calleeLines(transcript).some((l) => /booked/.test(l))
      ? 'The table was booked.'
      : 'The booking was not confirmed on the call.',
};
