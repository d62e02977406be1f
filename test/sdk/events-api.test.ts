import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentlineError, type CallStreamEvent, Client } from '../../sdk/node/agentline.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// Both SDKs against the real events routes (the API alone; the test writes what a worker writes):
// a whole call followed live, a resume from the middle, and the typed errors before a stream opens.

const run = promisify(execFile);

async function py(code: string, env: Record<string, string>) {
  const { stdout } = await run('python3', ['-c', code], {
    env: { ...process.env, PYTHONPATH: path.resolve('sdk/python'), ...env },
    timeout: 25_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const PY_EVENTS = `
import json, os
from agentline import Client, AgentlineError
c = Client(os.environ["KEY"], os.environ["URL"])
try:
    out = [{"type": e.type, "id": e.id, "data": e.data} for e in STREAM]
except AgentlineError as e:
    out = [e.code, e.status]
print(json.dumps(out))
`;

describe('SDK event streams against the real API', () => {
  let api: TestApi;
  let client: Client;
  beforeAll(async () => {
    api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100' } });
    client = new Client(api.key, api.url);
  });
  afterAll(() => api.close());

  /** What a worker writes for an answered call with three turns. */
  async function runCall(callId: string, from: 'queued' | 'dialing' = 'queued') {
    const store = api.deps.calls;
    if (from === 'queued') await store.transition(callId, 'dialing');
    await store.transition(callId, 'in_progress');
    for (let i = 0; i < 3; i++) {
      await store.addTurn(callId, {
        speaker: i % 2 === 0 ? 'agent' : 'callee',
        text: `turn ${i} — ünï 👋`,
        startMs: i * 1000,
        endMs: i * 1000 + 800,
      });
    }
    await store.note(callId, 'transfer_started: 201');
    await store.transition(callId, 'completed', {
      reason: 'objective_met',
      patch: { summary: 'Open until nine.', extracted: { open: true } },
    });
  }

  it('follows a call live to `ended`, and both SDKs resume from the middle with exactly the rest', async () => {
    const { callId } = await client.placeCall({ to: TEST_DESTINATION, objective: 'Follow me live' });
    // A queued call has no event yet: the first one is dialing, and the rest is written once it arrived.
    expect((await api.deps.calls.transition(callId, 'dialing')).ok).toBe(true);
    const live: CallStreamEvent[] = [];
    let writing: Promise<void> | null = null;
    for await (const e of client.callEvents(callId)) {
      live.push(e);
      writing ??= runCall(callId, 'dialing');
    }
    await writing;
    const context = live.map((e) => e.type).join(' ');
    expect(live.at(-1), context).toMatchObject({
      type: 'ended',
      data: { callId, status: 'completed', endedReason: 'objective_met', summary: 'Open until nine.' },
    });
    expect(live.filter((e) => e.type === 'turn').map((e) => e.data.text)).toEqual(
      [0, 1, 2].map((i) => `turn ${i} — ünï 👋`),
    );
    expect(live.filter((e) => e.type === 'status').map((e) => e.data.to)).toEqual(
      expect.arrayContaining(['dialing', 'in_progress', 'completed']),
    );
    expect(
      live.some((e) => e.type === 'note' && e.data.reason === 'transfer_started: 201'),
      context,
    ).toBe(true);

    // The whole history replays the same to both SDKs.
    const nodeReplay = [];
    for await (const e of client.callEvents(callId)) nodeReplay.push(e);
    expect(nodeReplay).toEqual(live);
    const pyReplay = await py(PY_EVENTS.replace('STREAM', 'c.call_events(os.environ["CALL"])'), {
      KEY: api.key,
      URL: api.url,
      CALL: callId,
    });
    expect(pyReplay).toEqual(JSON.parse(JSON.stringify(live)));

    // From the first turn's id on, each gets exactly what followed it.
    const cut = live.findIndex((e) => e.type === 'turn');
    const cursor = live[cut].id!;
    const nodeRest = [];
    for await (const e of client.callEvents(callId, { lastEventId: cursor })) nodeRest.push(e);
    expect(nodeRest).toEqual(live.slice(cut + 1));
    const pyRest = await py(
      PY_EVENTS.replace('STREAM', 'c.call_events(os.environ["CALL"], last_event_id=os.environ["CURSOR"])'),
      { KEY: api.key, URL: api.url, CALL: callId, CURSOR: cursor },
    );
    expect(pyRest).toEqual(JSON.parse(JSON.stringify(live.slice(cut + 1))));
  });

  it('the account stream resumes from a cursor and delivers a call’s end; `break` leaves it', async () => {
    const { callId } = await client.placeCall({ to: TEST_DESTINATION, objective: 'Account stream' });
    expect((await api.deps.calls.transition(callId, 'dialing')).ok).toBe(true);
    let cursor: string | null = null;
    for await (const e of client.callEvents(callId)) {
      if (e.id !== null) cursor = e.id;
      if (e.type === 'status' && e.data.to === 'dialing') break;
    }
    expect(cursor).not.toBeNull();
    // Writes made before the account stream has connected are still delivered: it resumes after the cursor.
    const writing = runCall(callId, 'dialing');
    const seen: CallStreamEvent[] = [];
    for await (const e of client.accountEvents({ lastEventId: cursor! })) {
      if (e.data.callId === callId) seen.push(e);
      if (e.type === 'ended' && e.data.callId === callId) break;
    }
    await writing;
    expect(seen.map((e) => e.type)).toEqual(['status', 'turn', 'turn', 'turn', 'note', 'status', 'ended']);
    expect(seen.at(-1)).toMatchObject({ type: 'ended', data: { callId, status: 'completed' } });
  });

  it('answers an unknown call with not_found 404, a bad key with unauthorized 401 and a malformed cursor with invalid_request 400, in both SDKs', async () => {
    const unknown = crypto.randomUUID();
    const first = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it) return null;
      return null;
    };
    const missing = await first(client.callEvents(unknown)).catch((e) => e);
    expect(missing).toBeInstanceOf(AgentlineError);
    expect([missing.code, missing.status]).toEqual(['not_found', 404]);
    const { callId } = await client.placeCall({ to: TEST_DESTINATION, objective: 'Bad cursor' });
    const badCursor = await first(client.callEvents(callId, { lastEventId: 'not-a-cursor' })).catch((e) => e);
    expect([badCursor.code, badCursor.status]).toEqual(['invalid_request', 400]);
    const bad = new Client('ak_wrongwrongwrongwrongwrong', api.url);
    const unauth = await first(bad.accountEvents()).catch((e) => e);
    expect([unauth.code, unauth.status]).toEqual(['unauthorized', 401]);

    const pyMissing = await py(PY_EVENTS.replace('STREAM', 'c.call_events(os.environ["CALL"])'), {
      KEY: api.key,
      URL: api.url,
      CALL: unknown,
    });
    expect(pyMissing).toEqual(['not_found', 404]);
    const pyUnauth = await py(PY_EVENTS.replace('STREAM', 'c.account_events()'), {
      KEY: 'ak_wrongwrongwrongwrongwrong',
      URL: api.url,
    });
    expect(pyUnauth).toEqual(['unauthorized', 401]);
    const pyBadCursor = await py(PY_EVENTS.replace('STREAM', 'c.account_events(last_event_id="x.y")'), {
      KEY: api.key,
      URL: api.url,
    });
    expect(pyBadCursor).toEqual(['invalid_request', 400]);
  });
});
