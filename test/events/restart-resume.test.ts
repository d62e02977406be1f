import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallStore } from '../../src/calls/call-store.js';
import { createLiveBus, type LiveBus } from '../../src/events/live-bus.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { callScript } from './helpers/call-writes.js';
import { type EventsApi, startEventsApi } from './helpers/fixture.js';
import { afterPlacement, type SseMessage } from './helpers/sse.js';

// The worker is not the API server: its store and bus outlive the server's restart, as a separate
// process would. On PostgreSQL its NOTIFYs reach the new server; on PGlite the stream's poll finds its rows.
let db: TestDatabase;
let workerBus: LiveBus;
let worker: CallStore;
const servers: EventsApi[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  workerBus = await createLiveBus(db, silentLogger());
  worker = new CallStore(db.db, 'http://127.0.0.1');
  worker.onWrite = (w) => workerBus.publish({ kind: 'changed', ...w });
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await workerBus?.close();
  await db?.close();
});

async function server(): Promise<EventsApi> {
  const s = await startEventsApi({ db });
  servers.push(s);
  return s;
}

describe('resuming across an API server restart', () => {
  it('the per-call stream: what came before the stop and what came after the resume is the whole history, once', async () => {
    const first = await server();
    const callId = await first.placeCall();
    const script = callScript(worker, callId, { turns: 6 });
    const stream = await first.stream(`/v1/agent/calls/${callId}/events`);
    await script.start();
    await script.talk(0, 3);
    const before: SseMessage[] = await stream.until((m) => m.event === 'turn' && m.data.includes('"turn 2"'));
    expect(afterPlacement(before).map((m) => m.event)).toEqual(['status', 'status', 'turn', 'turn', 'turn']);

    // The server stops mid-call; the stream ends with it; the call goes on and writes meanwhile.
    await first.close();
    expect(await stream.next()).toBeNull();
    // The stopping server ended its streams: nothing of them is left subscribed.
    expect(first.bus.subscribers).toBe(0);
    const lastEventId = stream.lastEventId!;
    expect(lastEventId).toMatch(/^\d+\.\d+$/);
    await script.talk(3, 5);

    const second = await server();
    const resumed = await second.stream(`/v1/agent/calls/${callId}/events`, { key: first.key, lastEventId });
    expect(resumed.status).toBe(200);
    const afterFirst = await resumed.until((m) => m.event === 'turn' && m.data.includes('"turn 4"'));
    await script.talk(5, 6);
    await script.finish();
    const after = [...afterFirst, ...(await resumed.rest())];

    const history = await (
      await second.stream(`/v1/agent/calls/${callId}/events`, { key: first.key })
    ).rest();
    expect([...before, ...after]).toEqual(history);
    expect(afterPlacement(history).map((m) => m.event)).toEqual([
      'status',
      'status',
      ...Array(6).fill('turn'),
      'note',
      'status',
      'ended',
    ]);
  });

  it('the account stream: resumes from its cursor on a new server with nothing lost or repeated', async () => {
    const first = await server();
    const stream = await first.stream('/v1/agent/events');
    const callId = await first.placeCall();
    const script = callScript(worker, callId, { turns: 4 });
    await script.start();
    await script.talk(0, 2);
    const before = await stream.until((m) => m.event === 'turn' && m.data.includes('"turn 1"'));
    await first.close();
    expect(await stream.next()).toBeNull();
    const lastEventId = stream.lastEventId!;
    await script.talk(2, 4);
    await script.finish();

    const second = await server();
    const resumed = await second.stream('/v1/agent/events', { key: first.key, lastEventId });
    const after = await resumed.until((m) => m.event === 'ended');
    resumed.close();

    // The account's whole history, from the very start, for comparison.
    const all = await second.stream('/v1/agent/events', { key: first.key, lastEventId: '0.0' });
    const everything = await all.until((m) => m.event === 'ended' && m.data.includes(callId));
    all.close();
    const ofThisCall = (ms: SseMessage[]) => ms.filter((m) => m.data.includes(callId));
    expect([...before, ...after]).toEqual(ofThisCall(everything));
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
  });
});
