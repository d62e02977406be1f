import { describe, expect, it } from 'vitest';
import { createScriptedDialogue } from './scripted.js';
import type { DialogueMessage } from './types.js';

const sys: DialogueMessage = { role: 'system', content: 'system prompt' };
const callee = (text: string): DialogueMessage => ({ role: 'user', content: `<callee>${text}</callee>` });
const agent = (say: string): DialogueMessage => ({
  role: 'assistant',
  content: JSON.stringify({ action: 'speak', say }),
});

describe('scripted dialogue', () => {
  const script = {
    opening: 'Hello, I would like to book a table.',
    rules: [
      {
        match: /\bpress (\w+)/,
        once: true,
        action: (m: RegExpMatchArray) => ({
          action: 'dtmf' as const,
          digits: m[1] === 'one' ? '1' : '0',
          say: '',
        }),
      },
      {
        match: /\bbooked\b/,
        action: { action: 'end' as const, outcome: 'objective_met' as const, say: 'Thanks, goodbye.' },
      },
    ],
    fallback: 'Could you repeat that?',
    deltaDelayMs: 1,
  };

  it('opens with the opening line, then answers the latest callee words by rule, else the fallback', async () => {
    const d = createScriptedDialogue(script);
    expect(await d.nextAction([sys, { role: 'user', content: '<event>answered</event>' }], {})).toEqual({
      action: 'speak',
      say: 'Hello, I would like to book a table.',
    });
    const history = [sys, callee('hi'), agent('Hello')];
    expect(await d.nextAction([...history, callee('press one for bookings')], {})).toEqual({
      action: 'dtmf',
      digits: '1',
      say: '',
    });
    // A `once` rule does not fire twice in a conversation: not once its action is in the history...
    const pressed: DialogueMessage = {
      role: 'assistant',
      content: JSON.stringify({ say: '', action: 'dtmf', digits: '1' }),
    };
    expect(
      await d.nextAction([...history, callee('press one'), pressed, callee('press one for bookings')], {}),
    ).toEqual({ action: 'speak', say: 'Could you repeat that?' });
    // ...but a decision that was asked for and never acted on (a dropped early reply) does not use it up.
    expect(await d.nextAction([...history, callee('press one for bookings')], {})).toMatchObject({
      action: 'dtmf',
    });
    expect(await d.nextAction([...history, callee('it is booked')], {})).toMatchObject({
      action: 'end',
      outcome: 'objective_met',
    });
    // Only the latest callee message counts.
    expect(
      await d.nextAction([...history, callee('it is booked'), agent('ok'), callee('what?')], {}),
    ).toMatchObject({
      action: 'speak',
      say: 'Could you repeat that?',
    });
  });

  it('streams `say` in small deltas that add up to the whole line', async () => {
    const d = createScriptedDialogue(script);
    const deltas: string[] = [];
    const action = await d.nextAction([sys], { onSay: (x) => deltas.push(x) });
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(action.say);
  });

  it('stops streaming and rejects with an AbortError when aborted', async () => {
    const d = createScriptedDialogue({ ...script, deltaDelayMs: 20 });
    const ac = new AbortController();
    const deltas: string[] = [];
    const p = d.nextAction([sys], {
      signal: ac.signal,
      onSay: (x) => {
        deltas.push(x);
        if (deltas.length === 2) ac.abort('barge-in');
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(deltas).toHaveLength(2);
  });

  it('fills a JSON schema from the transcript by rules, nulls elsewhere', async () => {
    const d = createScriptedDialogue({
      ...script,
      extract: {
        time: /at (\w+)/,
        booked: /\bbooked\b/,
        size: (t: string) => (/\btwo\b/.test(t) ? 2 : null),
      },
      summary: (t: string) => `Transcript had ${t.split('\n').length} lines.`,
    });
    const schema = {
      type: 'object',
      properties: {
        summary: { type: 'string' },
        extracted: {
          type: 'object',
          properties: {
            time: { type: ['string', 'null'] },
            booked: { type: ['boolean', 'null'] },
            size: { type: ['number', 'null'] },
            name: { type: ['string', 'null'] },
          },
        },
      },
    };
    const out = await d.completeJson(
      [sys, { role: 'user', content: 'Agent: a table for two?\nCallee: yes at seven, booked' }],
      schema,
    );
    expect(out).toEqual({
      summary: 'Transcript had 2 lines.',
      extracted: { time: 'seven', booked: true, size: 2, name: null },
    });
  });

  it('refuses work after close', async () => {
    const d = createScriptedDialogue(script);
    await d.close();
    await expect(d.nextAction([sys], {})).rejects.toThrow(/closed/);
  });
});
