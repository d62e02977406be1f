import { getLlama, type Llama, LlamaLogLevel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACTION_FORMAT_HINT,
  ACTION_RESPONSE_PREFIX,
  AGENT_ACTION_SCHEMA,
  actionContinuationGrammar,
  actionToJson,
  DialogueOutputError,
  parseAgentAction,
} from '../dialogue/action-schema.js';
import type { AgentAction } from '../dialogue/types.js';
import { buildSystemPrompt, FIXED_INSTRUCTIONS } from './prompt.js';

// "Don't call me again": the end action can carry `optOut: true`, in the JSON schema, in llama.cpp's
// grammar (checked by llama.cpp's own grammar parser and matcher) and in the prompt.

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
});
afterAll(async () => {
  await llama?.dispose();
});

/**
 * llama.cpp's own check of a text against a grammar (node-llama-cpp's `LlamaGrammar._testText`, kept
 * out of its typings): the whole text must be one the grammar accepts.
 */
type TestableGrammar = { _testText(text: string): boolean };

/** What the model writes after the prompt's fixed `{"say":"`, as the grammar sees it. */
const continuation = (json: string) => {
  expect(json.startsWith(ACTION_RESPONSE_PREFIX)).toBe(true);
  return json.slice(ACTION_RESPONSE_PREFIX.length);
};

describe('the opt-out on the end action', () => {
  it('parses only as true or absent, and reads back as the model wrote it', () => {
    const out = parseAgentAction({
      say: ' You will not be called again. Goodbye. ',
      action: 'end',
      outcome: 'objective_impossible',
      optOut: true,
    });
    expect(out).toEqual({
      action: 'end',
      outcome: 'objective_impossible',
      say: 'You will not be called again. Goodbye.',
      optOut: true,
    });
    expect(actionToJson(out)).toBe(
      '{"say":"You will not be called again. Goodbye.","action":"end","outcome":"objective_impossible","optOut":true}',
    );
    // false (or absent) is an ordinary end: nothing about it is written back.
    const plain = parseAgentAction({ say: 'Bye.', action: 'end', outcome: 'objective_met', optOut: false });
    expect(plain).toEqual({ action: 'end', outcome: 'objective_met', say: 'Bye.' });
    expect(actionToJson(plain)).toBe('{"say":"Bye.","action":"end","outcome":"objective_met"}');
    expect(() =>
      parseAgentAction({ say: 'Bye.', action: 'end', outcome: 'objective_met', optOut: 'yes' }),
    ).toThrow(DialogueOutputError);
  });

  it('is an optional property of the end branch of the JSON schema only', () => {
    const end = AGENT_ACTION_SCHEMA.oneOf.find((b) => b.properties.action.const === 'end')!;
    expect(end.properties).toHaveProperty('optOut');
    expect((end.properties as Record<string, { const?: unknown }>).optOut.const).toBe(true);
    expect(end.required).not.toContain('optOut');
    for (const b of AGENT_ACTION_SCHEMA.oneOf) {
      if (b !== end) expect(b.properties).not.toHaveProperty('optOut');
    }
  });

  it("is accepted by llama.cpp's grammar after the outcome, and nowhere else", async () => {
    const grammar = (await llama.createGrammar({
      grammar: actionContinuationGrammar(),
    })) as unknown as TestableGrammar;
    const accepts = (a: AgentAction | string) =>
      grammar._testText(typeof a === 'string' ? a : continuation(actionToJson(a)));
    expect(accepts({ action: 'end', outcome: 'objective_impossible', say: 'Goodbye.', optOut: true })).toBe(
      true,
    );
    expect(accepts({ action: 'end', outcome: 'objective_met', say: 'Thanks, bye.', optOut: true })).toBe(
      true,
    );
    expect(accepts({ action: 'end', outcome: 'objective_met', say: 'Thanks, bye.' })).toBe(true);
    expect(accepts({ action: 'speak', say: 'Hello there.' })).toBe(true);
    // Only `true`, only on an end, only after the outcome.
    expect(accepts('Bye.","action":"end","outcome":"objective_met","optOut":false}')).toBe(false);
    expect(accepts('Hi.","action":"speak","optOut":true}')).toBe(false);
    expect(accepts('Bye.","action":"end","optOut":true,"outcome":"objective_met"}')).toBe(false);
    // A grammar without the end action has no opt-out either.
    const noEnd = (await llama.createGrammar({
      grammar: actionContinuationGrammar(['speak', 'dtmf']),
    })) as unknown as TestableGrammar;
    expect(noEnd._testText('Bye.","action":"end","outcome":"objective_met","optOut":true}')).toBe(false);
  });

  it('the prompt says when to set it, and that the agent still says goodbye', () => {
    expect(ACTION_FORMAT_HINT).toContain('"optOut":true');
    expect(FIXED_INSTRUCTIONS).toMatch(/asks not to be called again/);
    expect(FIXED_INSTRUCTIONS).toMatch(/goodbye/);
    const p = buildSystemPrompt({ objective: 'Confirm the appointment.', language: 'en-US' });
    expect(p.startsWith(FIXED_INSTRUCTIONS)).toBe(true);
    expect(p).toMatch(/taken off the list/);
  });
});
