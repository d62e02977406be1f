import { describe, expect, it } from 'vitest';
import { AgentlineError, type Call, type CallStreamEvent } from '../../sdk/node/agentline.js';
import { type WaitProgress, waitForCall } from '../../src/mcp/wait-for-call.js';

// wait_for_call's waiting logic with a scripted call and event stream: which polls it makes, what
// progress it reports, and that it closes the stream whichever way the wait ends.

const CALL_ID = 'c0ffee00-0000-4000-8000-000000000001';
const at = '2026-12-06T20:00:00.000Z';
const callAs = (status: string) => ({ id: CALL_ID, callId: CALL_ID, status }) as unknown as Call;

const status = (from: string | null, to: string, id: string | null): CallStreamEvent => ({
  type: 'status',
  id,
  data: { callId: CALL_ID, from, to, reason: null, at } as never,
});
const turn = (seq: number, speaker: 'agent' | 'callee', text: string): CallStreamEvent => ({
  type: 'turn',
  id: `3.${seq + 1}`,
  data: { callId: CALL_ID, seq, speaker, text, startMs: 0, endMs: 1, interrupted: false, latency: null, at },
});
const ended: CallStreamEvent = {
  type: 'ended',
  id: '4.2',
  data: {
    callId: CALL_ID,
    status: 'completed',
    endedReason: 'objective_met',
    summary: 's',
    extracted: null,
    durationSeconds: 3,
    recordingUrl: null,
    at,
  },
};

/** A scripted stream: yields `before`, waits for `release()`, yields `after`; records that it was closed. */
function scriptedStream(before: CallStreamEvent[], after: CallStreamEvent[]) {
  let release = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  const state = { closed: false, opened: 0, reachedGate: false };
  let gateReached = () => {};
  const atGate = new Promise<void>((r) => {
    gateReached = r;
  });
  const events = async function* (_id: string, signal: AbortSignal) {
    state.opened++;
    try {
      yield* before;
      state.reachedGate = true;
      gateReached();
      await Promise.race([
        released,
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      ]);
      yield* after;
    } finally {
      state.closed = true;
    }
  };
  return { events, release, state, atGate };
}

describe('waitForCall (MCP) with the call’s event stream', () => {
  it('ends as soon as the stream says ended, reporting each status once and each turn as progress', async () => {
    let status_ = 'queued';
    let gets = 0;
    const getCall = async () => {
      gets++;
      return callAs(status_);
    };
    const stream = scriptedStream(
      [
        status(null, 'queued', '1.0'),
        status('queued', 'dialing', '2.0'),
        status('dialing', 'in_progress', '3.0'),
        turn(0, 'callee', 'Corner shop, hello?'),
        turn(1, 'agent', 'Hi, are you open on Sunday?'),
        status(null, 'queued', null), // an old status seen late is not news
      ],
      [status('in_progress', 'completed', null), ended],
    );
    const seen: WaitProgress[] = [];
    const waiting = waitForCall(getCall, CALL_ID, {
      timeoutSeconds: 3600,
      intervalSeconds: 3600,
      heartbeatSeconds: 3600,
      signal: new AbortController().signal,
      events: stream.events,
      onProgress: async (p) => {
        seen.push(p);
      },
    });
    await stream.atGate;
    status_ = 'completed';
    stream.release();
    const result = await waiting;
    expect(result).toMatchObject({ done: true, call: { status: 'completed' } });
    expect(gets).toBe(2);
    expect(seen.map((p) => p.message)).toEqual([
      'call queued',
      'call dialing',
      'call in_progress',
      'callee: Corner shop, hello?',
      'agent: Hi, are you open on Sunday?',
    ]);
    for (let i = 1; i < seen.length; i++) expect(seen[i].progress).toBeGreaterThan(seen[i - 1].progress);
    expect(stream.state.closed).toBe(true);
  });

  it('polls every intervalSeconds where the server has no stream (404 on the route)', async () => {
    let gets = 0;
    const result = await waitForCall(async () => callAs(++gets >= 4 ? 'no_answer' : 'dialing'), CALL_ID, {
      timeoutSeconds: 3600,
      intervalSeconds: 0.01,
      heartbeatSeconds: 3600,
      signal: new AbortController().signal,
      // biome-ignore lint/correctness/useYield: a stream that fails before its first event
      events: async function* () {
        throw new AgentlineError('not_found', 'no such route', 404);
      },
    });
    expect(result).toMatchObject({ done: true, call: { status: 'no_answer' } });
    expect(gets).toBe(4);
  });

  it('still polls, every streamPollSeconds, while a stream stays silent (a proxy holding it back)', async () => {
    const stream = scriptedStream([], []);
    let gets = 0;
    const result = await waitForCall(async () => callAs(++gets >= 3 ? 'completed' : 'in_progress'), CALL_ID, {
      timeoutSeconds: 3600,
      intervalSeconds: 0.01,
      streamPollSeconds: 0.02,
      heartbeatSeconds: 3600,
      signal: new AbortController().signal,
      events: stream.events,
    });
    expect(result).toMatchObject({ done: true, call: { status: 'completed' } });
    expect(stream.state.reachedGate).toBe(true);
    expect(stream.state.closed).toBe(true);
  });

  it('closes the stream when the time runs out or the client goes away', async () => {
    for (const how of ['timeout', 'abort'] as const) {
      const stream = scriptedStream([status(null, 'queued', '1.0')], []);
      const ctl = new AbortController();
      const waiting = waitForCall(async () => callAs('queued'), CALL_ID, {
        timeoutSeconds: how === 'timeout' ? 0.2 : 3600,
        intervalSeconds: 3600,
        heartbeatSeconds: 3600,
        signal: ctl.signal,
        events: stream.events,
      });
      await stream.atGate;
      if (how === 'abort') ctl.abort();
      const result = await waiting;
      expect(result, how).toMatchObject({ done: false, call: { status: 'queued' } });
      expect(stream.state.closed, how).toBe(true);
    }
  });

  it('returns a call already ended without opening the stream', async () => {
    const stream = scriptedStream([], []);
    const result = await waitForCall(async () => callAs('failed'), CALL_ID, {
      timeoutSeconds: 10,
      intervalSeconds: 1,
      heartbeatSeconds: 5,
      signal: new AbortController().signal,
      events: stream.events,
    });
    expect(result.done).toBe(true);
    expect(stream.state.opened).toBe(0);
  });
});
