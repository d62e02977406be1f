import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { CallRow } from '../../../src/db/schema.js';
import type { ConversationAgent } from '../../../src/telephony/call-session.js';
import { type Harness, until } from './harness.js';

/** One call of a chaos run: where it goes, who answers for us, and how it must end whatever the PBX's timing. */
export interface ChaosCall {
  name: string;
  to: string;
  /** The agent that talks on this call (calls run at once, each with its own). */
  agent: ConversationAgent;
  fields?: Parameters<Harness['place']>[1];
  expect: { status: string; endedReason: string };
  /** The mixed recording was fetched and stored. */
  recorded?: boolean;
  /** Cancels the call once it reaches this status (the API's cancel). */
  cancelAt?: 'dialing' | 'in_progress';
  /** More checks once the call ended (the message names the seed). */
  check?(call: CallRow, h: Harness, message: string): Promise<void> | void;
}

/**
 * An agent that hands each call to the agent of its destination, so calls with different scripts
 * can run at once on one harness (the harness has one agent slot).
 */
export function agentByNumber(agents: ReadonlyMap<string, ConversationAgent>): ConversationAgent {
  const pick = (to: string) => {
    const a = agents.get(to);
    if (!a) throw new Error(`no test agent for ${to}`);
    return a;
  };
  return {
    converse: (s, onTurn) => pick(s.call.toNumber).converse(s, onTurn),
    summarize: (c, t, o) => pick(c.toNumber).summarize(c, t, o),
  };
}

/** How to repeat a failed chaos run: the seed, and the command that replays it. */
export function chaosMessage(h: Harness, what: string, replay: string): string {
  const c = h.sim.chaos;
  const mode = c ? `chaos seed ${c.seed} (maxDelayMs ${c.maxDelayMs}, errorRate ${c.errorRate})` : 'no chaos';
  return `${what} — ${mode}; replay: ${replay}`;
}

/**
 * Places every call at once (the worker runs four at a time), waits for each to end, and checks its
 * outcome; then nothing of them may be left on the PBX or in the runner. Every failure message names
 * the chaos seed and how to replay it.
 */
export async function runChaosCalls(h: Harness, calls: ChaosCall[], replay: string): Promise<void> {
  h.setAgent(agentByNumber(new Map(calls.map((c) => [c.to, c.agent]))));
  const tos = calls.map((c) => c.to);
  if (new Set(tos).size !== tos.length) throw new Error('chaos calls run at once need distinct numbers');
  const results = await Promise.all(
    calls.map(async (c) => {
      const msg = chaosMessage(h, c.name, replay);
      const id = await h.place(c.to, c.fields);
      if (c.cancelAt) {
        await h.waitFor(id, c.cancelAt, 120_000);
        await h.cancel(id);
      }
      const call = await h.waitFor(id, undefined, 180_000);
      return { c, call, msg };
    }),
  );
  for (const { c, call, msg } of results) {
    expect({ status: call.status, endedReason: call.endedReason }, msg).toEqual(c.expect);
    if (c.recorded) {
      expect(call.recordingFile, msg).toBe(`${call.id}.wav`);
      await fs.access(path.join(h.config.recordingsDir, `${call.id}.wav`));
    }
    await c.check?.(call, h, msg);
  }
  const left = chaosMessage(h, 'channels or bridges left on the PBX', replay);
  await until(left, () => h.sim.channels().length === 0 && h.sim.bridges().length === 0, 15_000);
  await until(
    chaosMessage(h, 'the runner to let go of its calls', replay),
    () => h.runner.activeCalls() === 0,
    15_000,
  );
}
