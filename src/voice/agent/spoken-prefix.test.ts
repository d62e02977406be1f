import { describe, expect, it } from 'vitest';
import { spokenPrefix } from './spoken-prefix.js';

describe('spokenPrefix', () => {
  const clause = 'one two three four five six seven eight nine ten';
  it('keeps words in proportion to the time played', () => {
    expect(spokenPrefix(clause, 500, 1000)).toBe('one two three four five');
    expect(spokenPrefix(clause, 260, 1000)).toBe('one two three');
    expect(spokenPrefix(clause, 1000, 1000)).toBe(clause);
    expect(spokenPrefix(clause, 1500, 1000)).toBe(clause);
  });
  it('is empty when nothing was played', () => {
    expect(spokenPrefix(clause, 0, 1000)).toBe('');
    expect(spokenPrefix(clause, 40, 1000)).toBe('');
    expect(spokenPrefix('', 500, 1000)).toBe('');
    expect(spokenPrefix(clause, 500, 0)).toBe('');
  });
});
