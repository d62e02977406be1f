import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallStreamEvent, Client } from '../../sdk/node/agentline.js';
import { CallStore } from '../../src/calls/call-store.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// The API server restarts in the middle of a call: both SDKs' iterators reconnect by themselves (with
// Last-Event-ID) and together with what they had before, they hold the call's whole history, once.
// The clients reach the server through a loopback TCP relay, so "the same address" survives the restart.

/** A TCP relay on a fixed loopback port to whichever server is current; none while `target` is null. */
async function startRelay() {
  let target: number | null = null;
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((down) => {
    sockets.add(down);
    down.on('close', () => sockets.delete(down));
    down.on('error', () => down.destroy());
    if (target === null) return void down.destroy();
    const up = net.connect(target, '127.0.0.1');
    sockets.add(up);
    up.on('close', () => {
      sockets.delete(up);
      down.destroy();
    });
    up.on('error', () => up.destroy());
    down.on('close', () => up.destroy());
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`,
    to(url: string | null) {
      target = url === null ? null : Number(new URL(url).port);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  };
}

let db: TestDatabase;
const servers: TestApi[] = [];
let relay: Awaited<ReturnType<typeof startRelay>>;

beforeAll(async () => {
  db = await createTestDatabase();
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.close();
  for (const s of servers) await s.close();
  await db?.close();
});

async function server() {
  const s = await startTestApi({ db, env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100' } });
  servers.push(s);
  relay.to(s.url);
  return s;
}

/** Python's call_events, printing each event as one JSON line as it comes. */
function pythonFollower(key: string, url: string, callId: string) {
  const child = spawn(
    'python3',
    [
      '-c',
      `
import json, os
from agentline import Client
for e in Client(os.environ["KEY"], os.environ["URL"]).call_events(os.environ["CALL"]):
    print(json.dumps({"type": e.type, "id": e.id, "data": e.data}), flush=True)
`,
    ],
    {
      env: { ...process.env, PYTHONPATH: path.resolve('sdk/python'), KEY: key, URL: url, CALL: callId },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const events: CallStreamEvent[] = [];
  const waiters: { test: (e: CallStreamEvent) => boolean; resolve: () => void }[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as CallStreamEvent;
    events.push(e);
    for (const w of waiters) if (w.test(e)) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    events,
    exited,
    seen: (test: (e: CallStreamEvent) => boolean) =>
      events.some(test) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve })),
    kill: () => child.kill(),
  };
}

describe('SDK event streams across an API server restart', () => {
  it('Node and Python resume after the restart and end with the whole history, once', {
    timeout: 120_000,
  }, async () => {
    const first = await server();
    const client = new Client(first.key, relay.url);
    const { callId } = await client.placeCall({ to: TEST_DESTINATION, objective: 'Survive a restart' });
    // The worker is not the API server: its writes go on while the server is down.
    const worker = new CallStore(db.db, 'http://127.0.0.1');
    const talk = async (from: number, to: number) => {
      for (let i = from; i < to; i++)
        await worker.addTurn(callId, {
          speaker: i % 2 ? 'callee' : 'agent',
          text: `turn ${i}`,
          startMs: i * 1000,
          endMs: i * 1000 + 500,
        });
    };
    await worker.transition(callId, 'dialing');
    await worker.transition(callId, 'in_progress');
    await talk(0, 3);

    const isTurn = (n: number) => (e: CallStreamEvent) => e.type === 'turn' && e.data.text === `turn ${n}`;
    const nodeEvents: CallStreamEvent[] = [];
    const nodeWaiters: { test: (e: CallStreamEvent) => boolean; resolve: () => void }[] = [];
    const nodeSeen = (test: (e: CallStreamEvent) => boolean) =>
      nodeEvents.some(test)
        ? Promise.resolve()
        : new Promise<void>((resolve) => nodeWaiters.push({ test, resolve }));
    const nodeDone = (async () => {
      for await (const e of client.callEvents(callId)) {
        nodeEvents.push(e);
        for (const w of nodeWaiters) if (w.test(e)) w.resolve();
      }
    })();
    const py = pythonFollower(first.key, relay.url, callId);
    try {
      await Promise.all([nodeSeen(isTurn(2)), py.seen(isTurn(2))]);

      relay.to(null);
      await first.close();
      await talk(3, 5);
      await server();
      await Promise.all([nodeSeen(isTurn(4)), py.seen(isTurn(4))]);
      await talk(5, 6);
      await worker.transition(callId, 'completed', {
        reason: 'objective_met',
        patch: { summary: 'Survived.' },
      });
      await nodeDone;
      expect(await py.exited).toBe(0);
    } finally {
      py.kill();
    }

    const whole: CallStreamEvent[] = [];
    for await (const e of client.callEvents(callId)) whole.push(e);
    expect(whole.filter((e) => e.type === 'turn').map((e) => e.data.text)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `turn ${i}`),
    );
    expect(whole.at(-1)).toMatchObject({ type: 'ended', data: { callId, summary: 'Survived.' } });
    expect(nodeEvents).toEqual(whole);
    expect(py.events).toEqual(JSON.parse(JSON.stringify(whole)));
  });
});
