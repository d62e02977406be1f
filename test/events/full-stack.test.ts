import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agentline, startAgentline } from '../../src/main.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { type ServeProcess, startServe } from '../e2e-stack/serve-process.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { dataOf, openSse, type SseMessage } from './helpers/sse.js';

// The production composition root with the simulated PBX: the worker's writes and the agent's
// partials reach the API's streams through the bus main.ts builds (LISTEN/NOTIFY on PostgreSQL).
// The callee (flite) greets at length and then listens, so pocketsphinx has words in progress to report.

const CALLEE = '+14155550194';
const greetingCallee = {
  number: CALLEE,
  description: 'A shop assistant who greets at length, then only listens.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: {
    start: {
      say: 'Hello and good morning, thank you for calling the corner shop on the high street. We are open every day from nine in the morning until six in the evening. How can I help you today?',
    },
  },
};

let dir: string;
let modelsDir: string;
let scenariosDir: string;
let tdb: TestDatabase | null = null;
let app: Agentline;
let key: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-events-stack-'));
  modelsDir = path.join(dir, 'models');
  scenariosDir = path.join(dir, 'scenarios');
  await fs.mkdir(modelsDir);
  await fs.mkdir(scenariosDir);
  await fs.writeFile(path.join(scenariosDir, 'greeting-callee.json'), JSON.stringify(greetingCallee));
  await writeSyntheticGguf(path.join(modelsDir, 'tiny.gguf'), { shape: 'tiny', seed: 7 });
  if (process.env.DATABASE_URL) tdb = await createTestDatabase();
  const dataDir = path.join(dir, 'data');
  app = await startAgentline({
    role: 'all',
    env: {
      ...TEST_CALL_WINDOW,
      // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
      WORKER_CONCURRENCY: '4',
      MODELS_DIR: modelsDir,
      MODELS_AUTO_FETCH: 'false',
      SCENARIOS_DIR: scenariosDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
    },
  });
  key = (JSON.parse(await fs.readFile(path.join(dataDir, 'first-api-key.json'), 'utf8')) as { key: string })
    .key;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}, 60_000);

describe('live events of a real call (startAgentline, simulated PBX)', () => {
  it('streams the callee’s words as partials while they speak, each turn as it is stored, then `ended`', async () => {
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    const account = await openSse(`${app.url}/v1/agent/events`, { headers });
    const placed = await fetch(`${app.url}/v1/agent/calls`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        to: CALLEE,
        objective: 'Ask whether the shop is open today.',
        maxDurationSeconds: 30,
      }),
    });
    expect(placed.status, await placed.clone().text()).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };
    const stream = await openSse(`${app.url}/v1/agent/calls/${callId}/events`, { headers });
    expect(stream.status).toBe(200);

    const live = await stream.rest();
    const events = live.map((m) => m.event);
    const context = events.join(' ');
    expect(events.at(-1), context).toBe('ended');
    expect(events.at(-2), context).toBe('status');

    // The callee's words were streamed while they spoke: partials exist only live, never in a replay.
    const partials = live.filter((m) => m.event === 'partial');
    expect(partials.length, context).toBeGreaterThan(0);
    for (const p of partials) {
      expect(p.id).toBeUndefined();
      expect(dataOf(p)).toEqual({
        callId,
        speaker: 'callee',
        text: expect.stringMatching(/\S/),
        at: expect.any(String),
      });
    }
    // A callee turn (when the agent let the greeting finish) comes after the partials of its words.
    const firstCalleeTurn = live.findIndex((m) => m.event === 'turn' && dataOf(m).speaker === 'callee');
    if (firstCalleeTurn >= 0) expect(events.slice(0, firstCalleeTurn), context).toContain('partial');

    // Each turn is its own message with the next cursor, before the end.
    const turns = live.filter((m) => m.event === 'turn');
    expect(turns.length, context).toBeGreaterThan(0);
    expect(turns.map((m) => dataOf<{ seq: number }>(m).seq)).toEqual(turns.map((_, i) => i + 1));
    const ids = live.filter((m) => m.id).map((m) => m.id!.split('.').map(Number));
    for (let i = 1; i < ids.length; i++) {
      expect(ids[i][0] >= ids[i - 1][0] && ids[i][1] >= ids[i - 1][1], context).toBe(true);
    }
    const ended = dataOf(live.at(-1)!);
    expect(ended).toHaveProperty('summary');
    expect(ended).toHaveProperty('extracted');
    expect(ended).toMatchObject({ callId, status: expect.stringMatching(/^(completed|failed)$/) });

    // What was streamed live (without the partials) is exactly the call's stored history.
    const replay = await (await openSse(`${app.url}/v1/agent/calls/${callId}/events`, { headers })).rest();
    expect(live.filter((m) => m.event !== 'partial')).toEqual(replay);

    // The account stream saw the same call, partials included, up to its end.
    const acc = await account.until((m) => m.event === 'ended' && dataOf(m).callId === callId);
    account.close();
    // (Its batches may interleave a call's events and turns differently; the messages are the same.)
    const datas = (ms: SseMessage[]) => ms.map((m) => `${m.event} ${m.data}`).sort();
    expect(datas(acc.filter((m) => m.event !== 'partial'))).toEqual(datas(replay));
    expect(acc.some((m) => m.event === 'partial')).toBe(true);
  }, 180_000);
});

describe.skipIf(!process.env.DATABASE_URL)(
  'live events across processes (serve --role api beside --role worker)',
  () => {
    let shared: TestDatabase;
    let apiProc: ServeProcess | null = null;
    let workerProc: ServeProcess | null = null;
    beforeAll(async () => {
      shared = await createTestDatabase();
    });
    afterAll(async () => {
      await Promise.all([apiProc?.stop(20_000), workerProc?.stop(20_000)]);
      await shared?.close();
    }, 60_000);

    it("the API process streams the worker process's partials and turns (LISTEN/NOTIFY)", async () => {
      const env = {
        MODELS_DIR: modelsDir,
        MODELS_AUTO_FETCH: 'false',
        SCENARIOS_DIR: scenariosDir,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        DATABASE_URL: shared.url!,
        RECORDINGS_DIR: path.join(dir, 'shared-recordings'),
        SECRET_KEY: 'a'.repeat(64),
      };
      const apiData = path.join(dir, 'api');
      apiProc = startServe('api', { ...env, DATA_DIR: apiData });
      workerProc = startServe('worker', { ...env, DATA_DIR: path.join(dir, 'worker') });
      const url = String((await apiProc.logged((l) => l.msg === 'agentline is serving')).url);
      const apiKey = (
        JSON.parse(await fs.readFile(path.join(apiData, 'first-api-key.json'), 'utf8')) as { key: string }
      ).key;
      const headers = { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' };
      const placed = await fetch(`${url}/v1/agent/calls`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          to: CALLEE,
          objective: 'Ask whether the shop is open today.',
          maxDurationSeconds: 30,
        }),
      });
      expect(placed.status, await placed.clone().text()).toBe(201);
      const { callId } = (await placed.json()) as { callId: string };
      const live = await (await openSse(`${url}/v1/agent/calls/${callId}/events`, { headers })).rest();
      const context = live.map((m) => m.event).join(' ');
      expect(live.at(-1)?.event, context).toBe('ended');
      // Partials are never stored: these crossed from the worker process through NOTIFY.
      expect(
        live.some((m) => m.event === 'partial'),
        context,
      ).toBe(true);
      const replay = await (await openSse(`${url}/v1/agent/calls/${callId}/events`, { headers })).rest();
      expect(live.filter((m) => m.event !== 'partial')).toEqual(replay);
      expect(await apiProc.stop()).toBe(0);
      expect(await workerProc.stop()).toBe(0);
    }, 240_000);
  },
);
