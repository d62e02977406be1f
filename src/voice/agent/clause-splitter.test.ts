import { describe, expect, it } from 'vitest';
import { type ClauseSplitterOptions, createClauseSplitter } from './clause-splitter.js';

/** The first clause cut like the others, for tests of the rules every clause follows. */
const SAME_FIRST = { firstMinWordsBeforeComma: 5, firstMaxWords: 28 };

/** Streams `text` in `size`-character deltas and collects every clause, as the agent does. */
function split(text: string, size = 3, opts: ClauseSplitterOptions = SAME_FIRST) {
  const s = createClauseSplitter(opts);
  const out: string[] = [];
  const firstAt: number[] = [];
  for (let i = 0; i < text.length; i += size) {
    const got = s.push(text.slice(i, i + size));
    for (let k = 0; k < got.length; k++) firstAt.push(i + size);
    out.push(...got);
  }
  const rest = s.flush();
  if (rest) out.push(rest);
  return { out, firstAt };
}

describe('clause splitter', () => {
  it('splits on sentence and clause punctuation followed by a space', () => {
    expect(split('Hello there. How are you? Great! One thing; another: last').out).toEqual([
      'Hello there.',
      'How are you?',
      'Great!',
      'One thing;',
      'another:',
      'last',
    ]);
  });

  it('emits a clause as soon as the character after its punctuation arrives, before the stream ends', () => {
    const text = 'Hi, this is Sam. I am calling about the booking for tomorrow evening.';
    const { out, firstAt } = split(text, 1);
    expect(out[0]).toBe('Hi, this is Sam.');
    expect(firstAt[0]).toBe('Hi, this is Sam. '.length);
    expect(firstAt[0]).toBeLessThan(text.length);
  });

  it('splits on commas only after enough words', () => {
    expect(split('Yes, sir, that works.').out).toEqual(['Yes, sir, that works.']);
    expect(split('I would like to book a table, for two people, tomorrow.').out).toEqual([
      'I would like to book a table,',
      'for two people, tomorrow.',
    ]);
    expect(
      split('Yes, sir, that works.', 3, {
        ...SAME_FIRST,
        minWordsBeforeComma: 1,
        firstMinWordsBeforeComma: 1,
      }).out,
    ).toEqual(['Yes,', 'sir,', 'that works.']);
  });

  it('does not split decimals, times, abbreviations or initials', () => {
    expect(split('It costs 3.50 at 10:30 with Dr. Smith and J. R. Jones today. Next.').out).toEqual([
      'It costs 3.50 at 10:30 with Dr. Smith and J. R. Jones today.',
      'Next.',
    ]);
  });

  it('cuts a long run without punctuation at a word boundary', () => {
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const { out } = split(words, 5, { ...SAME_FIRST, maxWords: 10, firstMaxWords: 10 });
    expect(out.map((c) => c.split(' ').length)).toEqual([10, 10, 10]);
    expect(out.join(' ')).toBe(words);
  });

  it('keeps every character of the text across clauses, whatever the delta size', () => {
    const text = 'Okay. So, we have a table for two at seven, under Smith; is that right? Thanks!';
    for (const size of [1, 2, 7, 100]) {
      expect(split(text, size).out.join(' ')).toBe(text);
    }
  });

  it('by default cuts the first clause of a reply early, at its first comma or after eight words', () => {
    const text = 'Sure, I can help with that, and the table for two is at seven.';
    const { out, firstAt } = split(text, 1, {});
    expect(out).toEqual(['Sure,', 'I can help with that,', 'and the table for two is at seven.']);
    // The comma after a word ends the clause when it arrives: the model's next token is not awaited.
    expect(firstAt[0]).toBe('Sure,'.length);
    // A comma after a digit may be a thousands separator: that one waits for the next character.
    expect(split('It is 3,000 dollars, I think.', 1, {}).out).toEqual(['It is 3,000 dollars,', 'I think.']);
    const words = Array.from({ length: 12 }, (_, i) => `w${i}`).join(' ');
    expect(split(words, 1, {}).out.map((c) => c.split(' ').length)).toEqual([8, 4]);
  });

  it('returns null on flush when nothing is left', () => {
    const s = createClauseSplitter();
    expect(s.push('Done. ')).toEqual(['Done.']);
    expect(s.flush()).toBeNull();
    expect(s.push('   ')).toEqual([]);
    expect(s.flush()).toBeNull();
  });

  it('hands over the whole words written so far, keeping a word still being written', () => {
    const s = createClauseSplitter();
    expect(s.push('Sure, I can he')).toEqual(['Sure,']);
    expect(s.takeWords()).toBe('I can');
    expect(s.push('lp with that. Ok')).toEqual(['help with that.']);
    expect(s.takeWords()).toBeNull();
    expect(s.flush()).toBe('Ok');
    const t = createClauseSplitter();
    expect(t.takeWords()).toBeNull();
    t.push(' Hello');
    expect(t.takeWords()).toBeNull();
    t.push(' there ');
    expect(t.takeWords()).toBe('Hello there');
    expect(t.flush()).toBeNull();
  });
});
