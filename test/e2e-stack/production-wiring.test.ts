import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeWav } from '../../src/audio/wav.js';
import { isTerminal } from '../../src/calls/status.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type ServeProcess, startServe } from './serve-process.js';

// The production composition root (src/main.ts), not a stack the tests assemble: startAgentline and
// `serve` pick the transport, the engines and the worker's parts from the environment alone. What
// is installed here: pocketsphinx, flite, Silero, and a random-weight GGUF in MODELS_DIR that
// main.ts finds and runs on llama.cpp as it would a real model. The callee is a scenario file.

const CALLEE = '+14155550193';
/**
 * Greets from the moment of answer (AMD decides at once), then listens without a word and never
 * hangs up: the agent ends the call, saying one of its fixed goodbyes (out of time, nobody
 * answering, or a model that cannot form a reply), so the transcript holds a line that does not
 * depend on how fast this machine recognises speech.
 */
const listeningCallee = {
  number: CALLEE,
  description: 'A shop assistant who greets, then only listens.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: { start: { say: 'Hello, thank you for calling the corner shop. How can I help you today?' } },
};
const usePostgres = Boolean(process.env.DATABASE_URL);

let dir: string;
let modelsDir: string;
let scenariosDir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-wiring-'));
  modelsDir = path.join(dir, 'models');
  scenariosDir = path.join(dir, 'scenarios');
  await fs.mkdir(modelsDir);
  await fs.mkdir(scenariosDir);
  await fs.writeFile(path.join(scenariosDir, 'listening-callee.json'), JSON.stringify(listeningCallee));
  await writeSyntheticGguf(path.join(modelsDir, 'tiny.gguf'), { shape: 'tiny', seed: 7 });
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** What a deployment sets to run on this box's engines with the test's callees and no model download. */
const baseEnv = () => ({
  ...TEST_CALL_WINDOW,
  MODELS_DIR: modelsDir,
  MODELS_AUTO_FETCH: 'false',
  SCENARIOS_DIR: scenariosDir,
  HOST: '127.0.0.1',
  PORT: '0',
});

function api(url: string, key: string) {
  const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
  return {
    async place(body: Record<string, unknown>): Promise<string> {
      const res = await fetch(`${url}/v1/agent/calls`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      return ((await res.json()) as { callId: string }).callId;
    },
    async get(id: string): Promise<Record<string, any>> {
      const res = await fetch(`${url}/v1/agent/calls/${id}`, { headers });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, any>;
    },
    async waitForEnd(id: string): Promise<Record<string, any>> {
      let call: Record<string, any> = {};
      await vi.waitFor(
        async () => {
          call = await this.get(id);
          if (!isTerminal(call.status)) throw new Error(`call still ${call.status}`);
        },
        { timeout: 150_000, interval: 250 },
      );
      return call;
    },
    async recording(call: Record<string, any>) {
      expect(call.recordingUrl).toEqual(expect.stringMatching(/\/v1\/agent\/calls\/.+\/recording$/));
      const res = await fetch(`${url}/v1/agent/calls/${call.id}/recording`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      return decodeWav(new Uint8Array(await res.arrayBuffer()));
    },
  };
}

async function firstKey(dataDir: string): Promise<string> {
  return (JSON.parse(await fs.readFile(path.join(dataDir, 'first-api-key.json'), 'utf8')) as { key: string })
    .key;
}

/** What any finished call of the listening callee must show, whatever the random-weight model said. */
async function expectFinishedCall(client: ReturnType<typeof api>, callId: string) {
  const call = await client.waitForEnd(callId);
  const context = `${call.status}/${call.endedReason}\n${call.transcript}`;
  // A model that cannot form a reply ends the call as failed/internal_error; anything else ends normally.
  if (call.status === 'failed') expect(call.endedReason, context).toBe('internal_error');
  else expect(call.status, context).toBe('completed');
  // The agent's goodbye went into the transcript, whichever way the call ended.
  expect(call.transcript, context).toMatch(/^Agent: .*goodbye\.$/im);
  // The recording holds both parties: the callee's greeting and the agent's goodbye are the loud
  // stretches of a call that is otherwise silent.
  const wav = await client.recording(call);
  const frame = wav.sampleRate / 50;
  let loud = 0;
  for (let i = 0; i + frame <= wav.samples.length; i += frame) {
    let e = 0;
    for (let k = i; k < i + frame; k++) e += wav.samples[k] * wav.samples[k];
    if (Math.sqrt(e / frame) > 1000) loud++;
  }
  const goodbye = call.turns.at(-1) as { speaker: string; startMs: number; endMs: number };
  expect(goodbye.speaker, context).toBe('agent');
  expect(loud * 20, context).toBeGreaterThan(goodbye.endMs - goodbye.startMs);
  return call;
}

describe('startAgentline({ role: "all" }) with the embedded PBX', () => {
  let tdb: TestDatabase | null = null;
  let app: Agentline;
  let dataDir: string;
  const logLines: Record<string, any>[] = [];

  beforeAll(async () => {
    dataDir = path.join(dir, 'all');
    if (usePostgres) tdb = await createTestDatabase();
    app = await startAgentline({
      role: 'all',
      env: { ...baseEnv(), DATA_DIR: dataDir, ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}) },
      logger: pino({ level: 'info' }, { write: (s: string) => logLines.push(JSON.parse(s)) }),
    });
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await tdb?.close();
  }, 60_000);

  it('reports the engines main.ts chose from what is installed', async () => {
    const res = await fetch(`${app.url}/readyz`);
    const ready = (await res.json()) as { status: string; checks: Record<string, { detail?: string }> };
    expect(res.status, JSON.stringify(ready)).toBe(200);
    const detail = ready.checks.engines?.detail ?? '';
    expect(detail).toContain('stt: pocketsphinx');
    expect(detail).toContain('tts: flite');
    expect(detail).toContain('vad: silero');
    expect(detail).toMatch(/dialogue: llama-cpp \(tiny\.gguf/);
    expect(app.pbxUrl).not.toBeNull();
  });

  it('places a call over HTTP to a simulator number, on chan_websocket media, and finishes it with transcript and recording', async () => {
    const client = api(app.url!, await firstKey(dataDir));
    const callId = await client.place({
      to: CALLEE,
      objective: 'Ask whether the shop is open today.',
      maxDurationSeconds: 30,
    });
    // With no ARI_URL and no MEDIA_TRANSPORT, main.ts carries the call's media over chan_websocket.
    const ariAuth = `Basic ${Buffer.from(`${app.config.ARI_USERNAME}:${app.config.ARI_PASSWORD}`).toString('base64')}`;
    await vi.waitFor(
      async () => {
        const res = await fetch(`${app.pbxUrl}/ari/channels`, { headers: { Authorization: ariAuth } });
        const names = ((await res.json()) as { name: string }[]).map((c) => c.name);
        if (!names.some((n) => n.startsWith('WebSocket/'))) throw new Error(`channels: ${names.join(', ')}`);
      },
      { timeout: 60_000, interval: 50 },
    );
    const call = await expectFinishedCall(client, callId);
    // A random-weight model may fail to form a reply (the call then ends failed/internal_error, see
    // expectFinishedCall); that one error line is the failure itself. Nothing else may log an error.
    const allowed = call.status === 'failed' ? ['dialogue failed'] : [];
    const errors = logLines.filter((l) => l.level >= 50).map((l) => l.msg);
    expect(errors.filter((m) => !allowed.includes(m))).toEqual([]);
    if (call.status === 'failed') expect(errors).toContain('dialogue failed');
  }, 180_000);
});

describe.skipIf(!usePostgres)('serve --role api beside serve --role worker, sharing PostgreSQL', () => {
  let tdb: TestDatabase;
  let apiProc: ServeProcess | null = null;
  let workerProc: ServeProcess | null = null;

  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    // Already stopped when the test got that far; otherwise they go now, killed if they hang.
    await Promise.all([apiProc?.stop(20_000), workerProc?.stop(20_000)]);
    await tdb?.close();
  }, 60_000);

  it('the API queues the call, the worker process dials and finishes it, and the API serves its recording', async () => {
    // Two machines' worth of settings: their own data folders, one database, one key for webhook
    // secrets, and the recordings folder both mount (the worker writes it, the API serves it).
    const shared = {
      ...baseEnv(),
      DATABASE_URL: tdb.url!,
      SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      RECORDINGS_DIR: path.join(dir, 'shared-recordings'),
      LOG_LEVEL: 'info',
    };
    const apiData = path.join(dir, 'api');
    apiProc = startServe('api', { ...shared, DATA_DIR: apiData });
    workerProc = startServe('worker', { ...shared, DATA_DIR: path.join(dir, 'worker') });
    const serving = await apiProc.logged((l) => l.msg === 'agentline is serving');
    // The API alone has no engines and no PBX: it says nothing about them.
    const ready = await (await fetch(`${serving.url}/readyz`)).json();
    expect(Object.keys((ready as { checks: object }).checks)).toEqual(['database']);

    const client = api(String(serving.url), await firstKey(apiData));
    const callId = await client.place({
      to: CALLEE,
      objective: 'Ask whether the shop is open today.',
      maxDurationSeconds: 30,
    });
    const call = await expectFinishedCall(client, callId);
    expect(call.dialedAt).not.toBeNull();
    // The worker process ran it (the API process has no call runner).
    expect(workerProc.lines.some((l) => l.callId === callId)).toBe(true);
    expect(apiProc.lines.some((l) => l.callId === callId && l.part === 'calls')).toBe(false);

    expect(await apiProc.stop()).toBe(0);
    expect(await workerProc.stop()).toBe(0);
  }, 240_000);
});
