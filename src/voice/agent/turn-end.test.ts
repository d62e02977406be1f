import { describe, expect, it } from 'vitest';
import { classifyTurnEnd, endSilenceFor } from './turn-end.js';

describe('classifyTurnEnd', () => {
  it.each([
    'hello thank you for calling how can i help you today',
    'sure for how many people would that be and at what time',
    'we have a table free at seven thirty would that work for you',
    'great what name should i put the booking under',
    "what's the name",
    'is that okay',
    'do you have a reservation',
    'and how many',
    'who am i speaking with',
    'thank you that is all goodbye',
    'okay bye',
  ])('a question or a goodbye hands the turn over: %s', (text) => {
    expect(classifyTurnEnd(text)).toBe('handover');
  });

  it.each([
    'yes we have a table at',
    'the booking is for two and',
    'let me see um',
    'my name is',
    'it is under the',
    'because',
  ])('a trailing conjunction, article, preposition or filler leaves it open: %s', (text) => {
    expect(classifyTurnEnd(text)).toBe('unfinished');
  });

  it.each([
    'hello thank you for calling',
    'yes we have a table at seven',
    'that is what i said',
    'i would like a table for two',
    'you can park behind the building',
    'i know what you mean',
    'yes it is',
    'we are closed on sundays',
    '',
  ])('anything else is a statement: %s', (text) => {
    expect(classifyTurnEnd(text)).toBe('statement');
  });

  it('only a question at the end of what was said counts', () => {
    // The question came first; the callee went on past it for more than a clause.
    expect(
      classifyTurnEnd('can you hold on for a moment while i check the book for tonight and tomorrow'),
    ).toBe('statement');
  });

  it('ignores case and punctuation the recogniser may print', () => {
    expect(classifyTurnEnd('Would that work for you?')).toBe('handover');
    expect(classifyTurnEnd('Table for two, and')).toBe('unfinished');
  });
});

describe('endSilenceFor', () => {
  const s = { handoverMs: 400, statementMs: 650, unfinishedMs: 1000 };
  it('maps each kind of ending to its silence', () => {
    expect(endSilenceFor('how can i help you', s)).toBe(400);
    expect(endSilenceFor('we open at six', s)).toBe(650);
    expect(endSilenceFor('we open at six and', s)).toBe(1000);
  });
});
