import { describe, expect, it } from 'vitest';
import { isBackchannel } from './backchannel.js';

describe('isBackchannel', () => {
  it('recognises short acknowledgements as recognisers print them', () => {
    for (const t of [
      'okay',
      'OK.',
      'mm-hm',
      'uh huh',
      'yeah',
      'yeah right',
      'all right',
      'got it',
      'I see',
      'sure',
    ]) {
      expect(isBackchannel(t), t).toBe(true);
    }
  });
  it('treats requests, questions and content as taking the floor', () => {
    for (const t of [
      'wait',
      'sorry wait',
      'no',
      'stop',
      'okay but wait',
      'what time',
      'i see a problem',
      'yes we have a table',
    ]) {
      expect(isBackchannel(t), t).toBe(false);
    }
  });
  it('does not call empty text a backchannel (nothing is known yet)', () => {
    expect(isBackchannel('')).toBe(false);
    expect(isBackchannel('  ')).toBe(false);
  });
});
