import type { AgentAction, JsonSchema } from './types.js';

/**
 * Longest `say` kept. A phone turn is short, and a weak (or random-weight) model can otherwise fill
 * its whole token budget with one string. Engines stop generating there and keep what was said; a
 * grammar-level maxLength would do the same but makes llama.cpp's grammar sampler crawl.
 */
export const SAY_MAX = 400;

export const OUTCOMES = ['objective_met', 'objective_impossible'] as const;

/**
 * The constrained output of `nextAction`: one object per action kind. `action` comes first so it is
 * known at once; the short `digits`/`outcome` follow, and `say` comes LAST, so speech streams from
 * the first clause and a reply cut at SAY_MAX can still be closed into a valid action.
 * node-llama-cpp's grammar builder and llama.cpp's server both accept this shape.
 */
export const AGENT_ACTION_SCHEMA = {
  oneOf: [
    {
      type: 'object',
      properties: {
        action: { const: 'speak' },
        say: { type: 'string', description: 'What the agent says next: one or two short sentences.' },
      },
      required: ['action', 'say'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        action: { const: 'dtmf' },
        digits: { type: 'string', description: 'Keys to press: 0-9, *, #.' },
        say: { type: 'string' },
      },
      required: ['action', 'digits', 'say'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: {
        action: { const: 'end' },
        outcome: { enum: [...OUTCOMES] },
        say: { type: 'string', description: 'A short goodbye.' },
      },
      required: ['action', 'outcome', 'say'],
      additionalProperties: false,
    },
  ],
} as const satisfies JsonSchema;

/** A short note for the system prompt: grammars force the shape, the note tells the model what it means. */
export const ACTION_FORMAT_HINT =
  'Answer with one JSON object. {"action":"speak","say":"..."} to talk; ' +
  '{"action":"dtmf","digits":"1","say":""} to press phone keys; ' +
  '{"action":"end","outcome":"objective_met","say":"Goodbye."} (or "objective_impossible") to hang up.';

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
      return { action: 'end', outcome, say };
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

/** Adds the format note to the first system message (or a new one), leaving the caller's array alone. */
export function withFormatHint<T extends { role: string; content: string }>(
  messages: readonly T[],
  hint: string,
): T[] {
  const out = messages.map((m) => ({ ...m }));
  const sys = out.find((m) => m.role === 'system');
  if (sys) sys.content = `${sys.content}\n\n${hint}`;
  else out.unshift({ role: 'system', content: hint } as T);
  return out;
}
