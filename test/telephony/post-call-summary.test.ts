import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationAgent } from '../../src/telephony/call-session.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  startHarness,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

describe('the post-call summary is bounded and never missing', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' });
    h = await startHarness({ engines, agent, settings: { summaryTimeoutMs: 500 } });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  /** The test agent, whose summary is `summarize`. */
  const agentWith = (summarize: ConversationAgent['summarize']) => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ say: 'Hello there' }],
      afterScript: 'objective_met',
    });
    return { ...agent, summarize };
  };

  it('an agent whose summary never comes (deaf to its deadline) does not hold the call: it ends with a transcript-built summary', async () => {
    let asked: { signal?: AbortSignal; timeoutMs?: number; maxTokens?: number } | undefined;
    h.setAgent(
      agentWith((_call, _turns, opts) => {
        asked = opts;
        return new Promise(() => {});
      }),
    );
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    expect(call.summary).toMatch(/^Automatic summary unavailable; from the transcript: the agent spoke once/);
    expect(call.summary).toContain('The call ended: objective met.');
    expect(call.extracted).toEqual({ confirmed: null });
    // The agent was told its bounds, and its deadline fired.
    expect(asked).toMatchObject({ timeoutMs: 500, maxTokens: expect.any(Number) });
    expect(asked?.signal?.aborted).toBe(true);
  }, 60_000);

  it('a null summary from the agent is replaced, its extracted values kept', async () => {
    h.setAgent(agentWith(async () => ({ summary: null, extracted: { confirmed: true } })));
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id);
    expect(call.status).toBe('completed');
    expect(call.summary).toContain('Established: confirmed = true.');
    expect(call.extracted).toEqual({ confirmed: true });
  }, 60_000);
});
