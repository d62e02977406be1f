import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventsApi, startEventsApi, waitUntil } from './helpers/fixture.js';
import { afterPlacement, dataOf, type SseMessage } from './helpers/sse.js';

let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi();
});
afterAll(async () => {
  await api?.close();
});

const latency = {
  calleeSpeechEndMs: 1000,
  sttFinalMs: 1200,
  firstTokenMs: 1400,
  firstTtsAudioMs: 1500,
  firstVoicedFrameMs: 1550,
};

/** What a worker writes for one short answered call, through the same store. */
async function runCall(callId: string, onStep?: (step: string) => Promise<void>) {
  const step = async (name: string, write: () => Promise<unknown>) => {
    await write();
    await onStep?.(name);
  };
  await step('dialing', () => api.store.transition(callId, 'dialing'));
  await step('answered', () => api.store.transition(callId, 'in_progress'));
  await step('agent turn', () =>
    api.store.addTurn(callId, {
      speaker: 'agent',
      text: 'Hello, is the shop open today?',
      startMs: 0,
      endMs: 900,
    }),
  );
  await step('callee turn', () =>
    api.store.addTurn(callId, {
      speaker: 'callee',
      text: 'Yes, until six.',
      startMs: 1000,
      endMs: 1800,
      interrupted: true,
      latency,
    }),
  );
  await step('note', () => api.store.note(callId, 'transfer_started: 201'));
  await step('end', () =>
    api.store.transition(callId, 'completed', {
      reason: 'objective_met',
      patch: { summary: 'The shop is open until six.', extracted: { open: true } },
    }),
  );
}

const kinds = (ms: SseMessage[]) => ms.map((m) => m.event);

describe('GET /v1/agent/calls/{id}/events', () => {
  it("replays a finished call's history in order, ends with `ended` (summary, extracted) and closes", async () => {
    const callId = await api.placeCall();
    await runCall(callId);
    const s = await api.stream(`/v1/agent/calls/${callId}/events`);
    expect(s.status).toBe(200);
    expect(s.contentType).toMatch(/^text\/event-stream/);
    const all = afterPlacement(await s.rest());
    expect(s.retry).toBe(2000);
    expect(kinds(all)).toEqual(['status', 'status', 'turn', 'turn', 'note', 'status', 'ended']);
    expect(dataOf(all[0])).toMatchObject({ callId, from: 'queued', to: 'dialing', reason: null });
    expect(dataOf(all[1])).toMatchObject({ from: 'dialing', to: 'in_progress' });
    expect(dataOf(all[2])).toMatchObject({
      seq: 1,
      speaker: 'agent',
      text: 'Hello, is the shop open today?',
    });
    expect(dataOf(all[3])).toEqual({
      callId,
      seq: 2,
      speaker: 'callee',
      text: 'Yes, until six.',
      startMs: 1000,
      endMs: 1800,
      interrupted: true,
      latency,
      at: expect.any(String),
    });
    expect(dataOf(all[4])).toEqual({
      callId,
      status: 'in_progress',
      reason: 'transfer_started: 201',
      at: expect.any(String),
    });
    expect(dataOf(all[5])).toMatchObject({ from: 'in_progress', to: 'completed', reason: 'objective_met' });
    expect(dataOf(all[6])).toEqual({
      callId,
      status: 'completed',
      endedReason: 'objective_met',
      summary: 'The shop is open until six.',
      extracted: { open: true },
      durationSeconds: expect.any(Number),
      recordingUrl: null,
      at: expect.any(String),
    });
    for (const m of all) expect(Number.isNaN(Date.parse(dataOf<{ at: string }>(m).at))).toBe(false);
    // Every durable message has a cursor; the terminal status has none, `ended` carries it.
    expect(all.map((m) => m.id === undefined)).toEqual([false, false, false, false, false, true, false]);
    expect(all[6].id).toMatch(/^\d+\.\d+$/);
  });

  it('streams a live call message by message as each write is stored, then closes after `ended`', async () => {
    const callId = await api.placeCall();
    const s = await api.stream(`/v1/agent/calls/${callId}/events`);
    const expected: Record<string, string[]> = {
      dialing: ['status'],
      answered: ['status'],
      'agent turn': ['turn'],
      'callee turn': ['turn'],
      note: ['note'],
      end: ['status', 'ended'],
    };
    const seen: SseMessage[] = [];
    // Whatever the call already has (its placement, where recorded) comes first.
    for (const _ of await api.store.events(callId)) seen.push((await s.next())!);
    // Each write's messages arrive before the next write is made: the stream is live, not replayed at the end.
    await runCall(callId, async (step) => {
      for (const kind of expected[step]) {
        const m = await s.next();
        expect(m?.event, step).toBe(kind);
        seen.push(m!);
      }
    });
    expect(await s.next()).toBeNull();
    const replay = await (await api.stream(`/v1/agent/calls/${callId}/events`)).rest();
    expect(replay).toEqual(seen);
  });

  it('resumes after Last-Event-ID or ?lastEventId= with nothing lost or repeated', async () => {
    const callId = await api.placeCall();
    await runCall(callId);
    const all = await (await api.stream(`/v1/agent/calls/${callId}/events`)).rest();
    for (let i = 0; i < all.length; i++) {
      const id = all[i].id;
      if (!id) continue;
      const rest = await (await api.stream(`/v1/agent/calls/${callId}/events`, { lastEventId: id })).rest();
      expect(rest).toEqual(all.slice(i + 1));
      const viaQuery = await (
        await api.stream(`/v1/agent/calls/${callId}/events?lastEventId=${encodeURIComponent(id)}`)
      ).rest();
      expect(viaQuery).toEqual(all.slice(i + 1));
    }
  });

  it('lets go of its bus subscription when the client disconnects', async () => {
    const callId = await api.placeCall();
    const before = api.bus.subscribers;
    const s = await api.stream(`/v1/agent/calls/${callId}/events`);
    await waitUntil(() => api.bus.subscribers === before + 1, 'the stream subscribed');
    s.close();
    await waitUntil(() => api.bus.subscribers === before, 'the stream unsubscribed');
  });

  it('answers in the spec error format before any stream: 401 without a key, 404 for unknown or foreign calls, 400 for a bad cursor', async () => {
    const callId = await api.placeCall();
    const noKey = await api.stream(`/v1/agent/calls/${callId}/events`, { key: null });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });

    const other = await api.addAccount('other', '+14155559876');
    const foreign = await api.stream(`/v1/agent/calls/${callId}/events`, { key: other.key });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    const foreignAll = await api.stream('/v1/agent/events', { key: other.key });
    expect(foreignAll.status).toBe(200);
    foreignAll.close();

    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const unknown = await api.stream(`/v1/agent/calls/${id}/events`);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    }

    const bad = await api.stream(`/v1/agent/calls/${callId}/events`, { lastEventId: 'banana' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_request' } });
    const noKeyAll = await api.stream('/v1/agent/events', { key: null });
    expect(noKeyAll.status).toBe(401);
  });

  it('is described in the OpenAPI document with its event types', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { description?: string; responses: Record<string, unknown> } }>;
    };
    const op = doc.paths['/v1/agent/calls/{id}/events']?.get;
    expect(op?.responses).toHaveProperty('200');
    for (const t of ['status', 'note', 'turn', 'partial', 'ended'])
      expect(op?.description).toContain(`\`${t}\``);
    expect(doc.paths['/v1/agent/events']?.get?.responses).toHaveProperty('200');
  });
});
