import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callScript } from './helpers/call-writes.js';
import { type EventsApi, startEventsApi, waitUntil } from './helpers/fixture.js';
import { afterPlacement } from './helpers/sse.js';

let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi();
});
afterAll(async () => {
  await api?.close();
});

describe('many listeners and slow ones', () => {
  it('20 listeners on one live call all get the same sequence, the call’s whole history', async () => {
    const callId = await api.placeCall();
    const base = api.bus.subscribers;
    const listeners = await Promise.all(
      Array.from({ length: 20 }, () => api.stream(`/v1/agent/calls/${callId}/events`)),
    );
    await waitUntil(() => api.bus.subscribers === base + 20, 'all 20 streams subscribed');
    const script = callScript(api.store, callId, { turns: 8 });
    const received = Promise.all(listeners.map((l) => l.rest()));
    await script.start();
    await script.talk();
    await script.finish();
    const sequences = await received;
    const history = await (await api.stream(`/v1/agent/calls/${callId}/events`)).rest();
    expect(afterPlacement(history).map((m) => m.event)).toEqual([
      'status',
      'status',
      ...Array(8).fill('turn'),
      'note',
      'status',
      'ended',
    ]);
    for (const s of sequences) expect(s).toEqual(history);
    // Each stream let go of the bus once it ended.
    await waitUntil(() => api.bus.subscribers === base, 'the streams unsubscribed');
  });

  it('a client that never reads its socket delays neither the call’s writes nor the other listeners, and later reads it all from the database', async () => {
    const callId = await api.placeCall();
    // Far more than socket buffers hold: the stalled client falls well behind.
    const script = callScript(api.store, callId, { turns: 120, turnText: 'x'.repeat(32 * 1024) });
    const stalled = await api.stream(`/v1/agent/calls/${callId}/events`);
    const reader = await api.stream(`/v1/agent/calls/${callId}/events`);
    const read = reader.rest();

    await script.start();
    await script.talk();
    await script.finish();
    // Every write is stored while the stalled client has not read a byte, and the other listener has the whole call.
    const got = await read;
    expect(got.filter((m) => m.event === 'turn')).toHaveLength(120);
    expect(got.at(-1)?.event).toBe('ended');

    // The stalled client, once it reads, gets the same sequence: it read from the database at its own pace.
    const late = await stalled.rest();
    expect(late).toEqual(got);
  });

  it('a client that goes away mid-stream releases its subscription and timers', async () => {
    const callId = await api.placeCall();
    const base = api.bus.subscribers;
    const script = callScript(api.store, callId, { turns: 4 });
    const stalled = await api.stream(`/v1/agent/calls/${callId}/events`);
    await waitUntil(() => api.bus.subscribers === base + 1, 'the stream subscribed');
    await script.start();
    await script.talk();
    stalled.close();
    await waitUntil(() => api.bus.subscribers === base, 'the stream unsubscribed');
    await script.finish();
  });
});
