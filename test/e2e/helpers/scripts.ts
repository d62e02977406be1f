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

/**
 * The host's confirmation as the agent heard it: "your table for four at seven thirty p m is booked"
 * (pocketsphinx often writes "for" for "four" and "and" for "at"): the count, and the words after it.
 */
function confirmation(transcript: string): { count: string; rest: string } | null {
  for (const line of calleeLines(transcript)) {
    const m = /table (?:for|four) (\w+)(.*)$/.exec(line);
    if (m && Object.hasOwn(COUNTS, m[1])) return { count: m[1], rest: m[2] };
  }
  return null;
}

/**
 * When the host's confirmation was not heard (it hangs up right after it), the agent's own answer that
 * the host took (it went on to its next question) is the booked value: the agent's line matching `about`.
 */
function accepted(transcript: string, about: RegExp): { count: string; rest: string } | null {
  const lines = transcript.split('\n');
  for (let i = 0; i < lines.length - 1; i++) {
    if (!lines[i].startsWith('Agent: ') || !about.test(lines[i]) || !lines[i + 1].startsWith('Callee: '))
      continue;
    const text = lines[i]
      .slice(7)
      .toLowerCase()
      .replace(/[^a-z' ]/g, ' ');
    const count = text.split(/\s+/).find((w) => Object.hasOwn(COUNTS, w) && w !== 'for' && w !== 'to');
    return count ? { count, rest: ` ${text}` } : null;
  }
  return null;
}

function calleeLines(transcript: string): string[] {
  return transcript
    .split('\n')
    .filter((l) => l.startsWith('Callee: '))
    .map((l) => l.slice(8).toLowerCase());
}

/**
 * The agent's side of a table booking with Luigi's (+14155550100). Rules are keyed on the words of the
 * host's lines that pocketsphinx gets right most reliably, several per line. Extraction reads the
 * host's spoken confirmation ("your table for four at seven thirty p m is booked") for the party size
 * and the time, and the agent's own words for the name.
 */
export const bookingScript: DialogueScript = {
  opening: 'Hello, I would like to book a table for dinner, please.',
  rules: [
    {
      match: /booked|goodbye|\bbye\b|confirmed/i,
      action: { action: 'end', outcome: 'objective_met', say: 'Thank you very much, goodbye.' },
    },
    { match: /\bname\b|under/i, action: { action: 'speak', say: 'The name is Smith.' } },
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
    party_size: (transcript) => {
      const c = confirmation(transcript) ?? accepted(transcript, /people/);
      return c ? COUNTS[c.count] : null;
    },
    time: (transcript) => {
      const c = confirmation(transcript) ?? accepted(transcript, /evening|morning|thirty|o'clock/);
      if (!c) return null;
      const m = new RegExp(
        `\\b(${HOURS.join('|')})\\b(?: (thirty|fifteen|forty five))?(?: (p m|pm|a m|am|in the evening|in the morning)\\b)?`,
      ).exec(c.rest);
      if (!m) return null;
      const minutes = m[2] === 'thirty' ? ':30' : m[2] === 'fifteen' ? ':15' : m[2] ? ':45' : '';
      const suffix = !m[3] ? '' : /evening|p/.test(m[3]) ? ' pm' : ' am';
      return `${HOURS.indexOf(m[1]) + 1}${minutes}${suffix}`;
    },
    name: /Agent: The name is (\w+)/,
  },
  summary: (transcript) =>
    /booked/i.test(transcript) ? 'The table was booked.' : 'The booking was not confirmed on the call.',
};
