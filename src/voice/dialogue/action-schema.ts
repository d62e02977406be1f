import type { AgentAction, JsonSchema } from './types.js';

/**
 * Longest `say` kept. A phone turn is short, and a weak (or random-weight) model can otherwise fill
 * its whole token budget with one string. Engines stop generating there and keep what was said; a
 * grammar-level maxLength would do the same but makes llama.cpp's grammar sampler crawl.
 */
export const SAY_MAX = 400;

export const OUTCOMES = ['objective_met', 'objective_impossible'] as const;

/**
 * The constrained output of `nextAction`: one object per action kind, `say` FIRST. A voice turn is
 * latency-bound: with `say` first the reply's first words are the model's first free tokens, and the
 * fixed `{"say":"` can be part of the prompt (see ACTION_RESPONSE_PREFIX) instead of costing one
 * decoding step per token. The action follows the words, so "say goodbye, then hang up" and "say
 * nothing, then press 1" read in the order they happen. node-llama-cpp and llama.cpp's server keep
 * this property order when they turn the schema into a grammar.
 */
export const AGENT_ACTION_SCHEMA = {
  oneOf: [
    {
      type: 'object',
      properties: {
        say: { type: 'string', description: 'What the agent says next: one or two short sentences.' },
        action: { const: 'speak' },
      },
      required: ['say', 'action'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        say: { type: 'string' },
        action: { const: 'dtmf' },
        digits: { type: 'string', description: 'Keys to press: 0-9, *, #.' },
      },
      required: ['say', 'action', 'digits'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        say: { type: 'string', description: 'A short goodbye.' },
        action: { const: 'end' },
        outcome: { enum: [...OUTCOMES] },
        optOut: {
          const: true,
          description:
            'Only when the callee asked not to be called again or to be taken off the list; leave it out otherwise.',
        },
      },
      required: ['say', 'action', 'outcome'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        say: { type: 'string', description: 'A short handover line for the callee.' },
        action: { const: 'transfer' },
        summary: {
          type: 'string',
          description: 'What the person taking over needs to know: who the callee is and what they want.',
        },
      },
      required: ['say', 'action', 'summary'],
      additionalProperties: false,
    },
  ],
} as const satisfies JsonSchema;

/** Longest transfer brief kept: it is read out to the person taking over before they are connected. */
export const SUMMARY_MAX = 600;

/**
 * What every action's JSON starts with. Engines that can continue a model turn put it in the prompt,
 * so generation starts at the first word of `say`.
 */
export const ACTION_RESPONSE_PREFIX = '{"say":"';

/**
 * A GBNF grammar for what follows ACTION_RESPONSE_PREFIX: the rest of the `say` string, then one of
 * `actions` in the compact form `actionToJson` writes, so the history the model reads back is token for
 * token what it generated. `say` has no length limit here (llama.cpp's sampler crawls on long bounded
 * repetitions); engines stop at SAY_MAX instead.
 */
export function actionContinuationGrammar(
  actions: readonly AgentAction['action'][] = ['speak', 'dtmf', 'end', 'transfer'],
): string {
  const branches: Record<AgentAction['action'], string> = {
    speak: String.raw`"\"speak\""`,
    dtmf: String.raw`"\"dtmf\",\"digits\":\"" [0-9*#] [0-9*#]{0,31} "\""`,
    end: String.raw`"\"end\",\"outcome\":\"" ("objective_met" | "objective_impossible") "\"" (",\"optOut\":true")?`,
    transfer: String.raw`"\"transfer\",\"summary\":\"" text "\""`,
  };
  const chosen = (['speak', 'dtmf', 'end', 'transfer'] as const).filter((a) => actions.includes(a));
  if (chosen.length === 0) throw new Error('`actions` must name at least one of speak, dtmf, end, transfer');
  return [
    // Words separated by single spaces: no leading, trailing or doubled whitespace, so the say text
    // the agent stores (trimmed) reads back as exactly the tokens the model wrote.
    String.raw`root ::= text "\",\"action\":" action "}"`,
    String.raw`text ::= (word (" " word)*)?`,
    String.raw`word ::= char+`,
    String.raw`char ::= [^"\\\x00-\x20\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])`,
    `action ::= ${chosen.map((a) => branches[a]).join(' | ')}`,
  ].join('\n');
}

/** An action as the model writes it (say first, no spaces): what goes back into the history. */
export function actionToJson(action: AgentAction): string {
  switch (action.action) {
    case 'speak':
      return JSON.stringify({ say: action.say, action: 'speak' });
    case 'dtmf':
      return JSON.stringify({ say: action.say, action: 'dtmf', digits: action.digits });
    case 'end':
      return JSON.stringify({
        say: action.say,
        action: 'end',
        outcome: action.outcome,
        ...(action.optOut ? { optOut: true } : {}),
      });
    case 'transfer':
      return JSON.stringify({ say: action.say, action: 'transfer', summary: action.summary });
  }
}

/**
 * The note on the output format. The voice agent's system prompt carries it in its fixed part (the
 * same for every call, so a cached prompt prefix serves them all); `withFormatHint` adds it for
 * callers whose prompt lacks it.
 */
export const ACTION_FORMAT_HINT = [
  'Answer with exactly one JSON object: first what you say, then the action.',
  '- {"say":"...","action":"speak"} to say something and then listen.',
  '- {"say":"","action":"dtmf","digits":"1"} to press keypad digits (0-9, *, #) in an automated phone menu; "say" may be empty.',
  '- {"say":"<short goodbye>","action":"end","outcome":"objective_met"} once the objective is achieved, or' +
    ' {"say":"<short goodbye>","action":"end","outcome":"objective_impossible"} once it clearly cannot be achieved on this call.' +
    ' Add "optOut":true to the end action (e.g. {"say":"<short goodbye>","action":"end","outcome":"objective_impossible","optOut":true}) only when the callee asks not to be called again or to be removed from the calling list.',
  '- {"say":"<short handover line>","action":"transfer","summary":"<who the callee is and what they want>"} to hand the call to a person, only when this call names a person to transfer to and its condition is met.',
].join('\n');

export class DialogueOutputError extends Error {
  constructor(
    message: string,
    readonly output?: string,
  ) {
    super(message);
    this.name = 'DialogueOutputError';
  }
}

/** Validates a parsed model output as an AgentAction; DTMF digits lose separators and must then be valid keys. */
export function parseAgentAction(value: unknown, raw?: string): AgentAction {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DialogueOutputError('the model did not return a JSON object', raw);
  }
  const v = value as Record<string, unknown>;
  if (typeof v.say !== 'string')
    throw new DialogueOutputError('the model\'s action has no "say" string', raw);
  const say = v.say.trim();
  switch (v.action) {
    case 'speak':
      return { action: 'speak', say };
    case 'dtmf': {
      const digits = typeof v.digits === 'string' ? v.digits.replace(/[\s,.-]/g, '').toUpperCase() : '';
      if (!/^[0-9*#A-D]{1,32}$/.test(digits)) {
        throw new DialogueOutputError(
          `the model asked to press invalid DTMF keys ${JSON.stringify(v.digits)}`,
          raw,
        );
      }
      return { action: 'dtmf', digits, say };
    }
    case 'end': {
      const outcome = v.outcome;
      if (outcome !== 'objective_met' && outcome !== 'objective_impossible') {
        throw new DialogueOutputError(
          `the model ended with an unknown outcome ${JSON.stringify(outcome)}`,
          raw,
        );
      }
      if (v.optOut !== undefined && typeof v.optOut !== 'boolean') {
        throw new DialogueOutputError(
          `the model ended with a non-boolean optOut ${JSON.stringify(v.optOut)}`,
          raw,
        );
      }
      return v.optOut === true
        ? { action: 'end', outcome, say, optOut: true }
        : { action: 'end', outcome, say };
    }
    case 'transfer': {
      const summary = typeof v.summary === 'string' ? v.summary.trim().slice(0, SUMMARY_MAX) : '';
      return { action: 'transfer', say, summary };
    }
    default:
      throw new DialogueOutputError(`the model chose an unknown action ${JSON.stringify(v.action)}`, raw);
  }
}

export function abortError(reason?: unknown): Error {
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('dialogue generation aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * Adds the format note to the first system message (or a new one) unless it is already there, leaving
 * the caller's array alone.
 */
export function withFormatHint<T extends { role: string; content: string }>(
  messages: readonly T[],
  hint: string,
): T[] {
  const out = messages.map((m) => ({ ...m }));
  const sys = out.find((m) => m.role === 'system');
  if (sys?.content.includes(hint)) return out;
  if (sys) sys.content = `${sys.content}\n\n${hint}`;
  else out.unshift({ role: 'system', content: hint } as T);
  return out;
}
