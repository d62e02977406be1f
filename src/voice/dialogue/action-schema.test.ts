import { describe, expect, it } from 'vitest';
import { DialogueOutputError, parseAgentAction, withFormatHint } from './action-schema.js';

describe('parseAgentAction', () => {
  it('accepts each action kind and tidies what a caller would act on', () => {
    expect(parseAgentAction({ action: 'speak', say: ' Hi there. ' })).toEqual({
      action: 'speak',
      say: 'Hi there.',
    });
    expect(parseAgentAction({ action: 'dtmf', digits: '1-2 3#', say: '' })).toEqual({
      action: 'dtmf',
      digits: '123#',
      say: '',
    });
    expect(parseAgentAction({ action: 'end', outcome: 'objective_met', say: 'Bye.' })).toEqual({
      action: 'end',
      outcome: 'objective_met',
      say: 'Bye.',
    });
  });

  it('names what is wrong with an invalid action', () => {
    expect(() => parseAgentAction('hi')).toThrow(DialogueOutputError);
    expect(() => parseAgentAction({ action: 'speak' })).toThrow(/no "say" string/);
    expect(() => parseAgentAction({ action: 'dtmf', digits: 'one', say: '' })).toThrow(
      /invalid DTMF keys "one"/,
    );
    expect(() => parseAgentAction({ action: 'end', outcome: 'maybe', say: '' })).toThrow(
      /unknown outcome "maybe"/,
    );
    expect(() => parseAgentAction({ action: 'fly', say: '' })).toThrow(/unknown action "fly"/);
  });
});

describe('withFormatHint', () => {
  it('appends to the first system message without touching the input', () => {
    const input = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hello' },
    ];
    const out = withFormatHint(input, 'HINT');
    expect(out[0].content).toBe('Be brief.\n\nHINT');
    expect(input[0].content).toBe('Be brief.');
    expect(withFormatHint([{ role: 'user' as const, content: 'x' }], 'HINT')[0]).toEqual({
      role: 'system',
      content: 'HINT',
    });
  });
});
