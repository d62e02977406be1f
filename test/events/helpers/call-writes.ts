import type { CallStore } from '../../../src/calls/call-store.js';

/** What a worker writes for one answered call, split where a test wants to act in between. */
export function callScript(
  store: CallStore,
  callId: string,
  opts: { turns?: number; turnText?: string } = {},
) {
  const turns = opts.turns ?? 2;
  return {
    async start() {
      await store.transition(callId, 'dialing');
      await store.transition(callId, 'in_progress');
    },
    async talk(from = 0, to = turns) {
      for (let i = from; i < to; i++) {
        await store.addTurn(callId, {
          speaker: i % 2 === 0 ? 'agent' : 'callee',
          text: opts.turnText ? `${i}: ${opts.turnText}` : `turn ${i}`,
          startMs: i * 1000,
          endMs: i * 1000 + 800,
        });
      }
    },
    async finish() {
      await store.note(callId, 'transfer_started: 201');
      await store.transition(callId, 'completed', {
        reason: 'objective_met',
        patch: { summary: `Call ${callId} went well.`, extracted: { turns } },
      });
    },
  };
}
