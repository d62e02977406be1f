import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calls, doNotCall, webhookDeliveries } from '../../src/db/schema.js';
import type { Scenario } from '../../src/pbx-sim/index.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import { type E2eStack, loadVoiceEngines, startE2eStack, type VoiceEngines } from './helpers/e2e-stack.js';

// "Don't call me again" through the whole product: the simulated PBX's callee asks to be taken off the
// list, the agent's (scripted) model ends with the opt-out and a goodbye, and the call's end puts the
// number on the account's do-not-call list, marks the call and tells the webhook; a second call to the
// number is then refused at placement.

const OPTS_OUT = '+14155550196';
const ASK = "Please take me off your list and don't call me again.";
const GOODBYE = 'I am sorry for the trouble. You will not be called again. Goodbye.';

const optOutCallee: Scenario = {
  number: OPTS_OUT,
  description: 'Answers, hears the agent out, and asks never to be called again.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 500 },
  states: {
    start: { say: 'Hello?', rules: [{ match: 'anything', say: ASK, goto: 'asked' }] },
    asked: {},
  },
};

let engines: VoiceEngines;
let stack: E2eStack;

beforeAll(async () => {
  engines = await loadVoiceEngines({ knownWords: true });
  stack = await startE2eStack({ engines, transport: 'websocket', scenarios: [optOutCallee] });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await engines?.close();
});

describe('a callee who asks not to be called again (simulated PBX)', () => {
  it('ends the call with optOut, lists the number, and refuses the next call to it', async () => {
    stack.useAgent({
      dialogue: () =>
        createScriptedDialogue({
          opening:
            'Hello, this is an automated assistant calling for Doctor Lee about your appointment tomorrow at nine. Is that still fine?',
          rules: [
            {
              match: /\b(off your list|call me again)\b/i,
              action: { action: 'end', outcome: 'objective_impossible', say: GOODBYE, optOut: true },
            },
          ],
          fallback: 'Sorry, could you say that again?',
        }),
    });
    const callId = await stack.placeCall({
      to: OPTS_OUT,
      objective: 'Confirm the appointment tomorrow at nine.',
      // Never reachable: the delivery rows keep the payloads the webhook would get.
      webhookUrl: 'http://127.0.0.1:9/hook',
    });
    const call = (await stack.waitForEnd(callId)) as Awaited<ReturnType<E2eStack['getCall']>> & {
      optOut?: boolean;
    };
    const context = `transcript:\n${call.transcript}\ncallee log:\n${stack.sim
      .calleeLog(OPTS_OUT)
      .map((e) => `${e.at} ${e.kind}: ${e.text}`)
      .join('\n')}`;
    expect(call.status, context).toBe('completed');
    expect(call.endedReason, context).toBe('objective_impossible');
    expect(call.optOut, context).toBe(true);
    // The agent said its goodbye to the end.
    const last = call.turns.at(-1);
    expect(last, context).toMatchObject({ speaker: 'agent', text: GOODBYE, interrupted: false });
    expect(
      call.turns.some((t) => t.speaker === 'callee' && /off your list/.test(t.text)),
      context,
    ).toBe(true);

    // The number is on the account's do-not-call list, from this call.
    const db = stack.db.db;
    const listed = await db
      .select()
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, stack.accountId), eq(doNotCall.number, OPTS_OUT)));
    expect(listed).toEqual([expect.objectContaining({ source: 'opt_out', callId })]);
    const [row] = await db.select({ optOut: calls.optOut }).from(calls).where(eq(calls.id, callId));
    expect(row.optOut).toBe(true);
    // The webhook says so.
    const hooks = await db
      .select({ event: webhookDeliveries.event, payload: webhookDeliveries.payload })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.callId, callId));
    const completed = hooks.find((h) => h.event === 'call.completed');
    expect(completed?.payload, JSON.stringify(hooks)).toMatchObject({ optOut: true });

    // A second call to the number is refused at placement.
    const res = await stack.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: OPTS_OUT, objective: 'Confirm the appointment tomorrow at nine.' }),
    });
    const body = (await res.json()) as { error: { code: string; details?: Record<string, unknown> } };
    expect(res.status, JSON.stringify(body)).toBe(422);
    expect(body.error.code).toBe('destination_blocked');
    expect(body.error.details).toMatchObject({ category: 'do_not_call', list: 'account' });
  }, 180_000);
});
