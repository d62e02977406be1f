import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LlmStandin, startLlmStandin } from '../../scripts/lib/llm-standin.js';
import { silentLogger } from '../../src/logger.js';
import { type Scenario, type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type ServeProcess, startServe } from './serve-process.js';

// The issue's batch at scale, through the production processes: one API process and two worker
// processes sharing PostgreSQL, one simulated PBX (ARI over HTTP/WebSocket) that timestamps every
// originate, the dialogue on an OpenAI-compatible stand-in. One worker is killed with SIGKILL in the
// middle of the batch. What must hold is read from the PBX's side (originates) and the API's.

const ROWS = 1000;
const CPS = 20;
const CHANNELS = 40;
/** Rows by what the network does with them (the rest answer as a person and hang up soon). */
const BUSY = 700;
const NO_ANSWER = 100;
const VOICEMAIL = 100;
/** Rows whose numbers are on the do-not-call list before the batch is sent. */
const LISTED_BEFORE = 10;

const usePostgres = Boolean(process.env.DATABASE_URL);

/** +1 415 555 0000 … 0999: Los Angeles numbers, one callee each. */
const rowNumber = (i: number) => `+1415555${String(i).padStart(4, '0')}`;
/** New York numbers of the calling-window batch. */
const windowNumber = (i: number) => `+1212555${String(i).padStart(4, '0')}`;

type Kind = 'busy' | 'no_answer' | 'voicemail' | 'person';
const kindOf = (i: number): Kind =>
  i < BUSY
    ? 'busy'
    : i < BUSY + NO_ANSWER
      ? 'no_answer'
      : i < BUSY + NO_ANSWER + VOICEMAIL
        ? 'voicemail'
        : 'person';

function scenarioFor(number: string, kind: Kind): Scenario {
  const base = { number, transcribe: false } as const;
  switch (kind) {
    case 'busy':
      return { ...base, outcome: 'busy', ringSeconds: 0 } as Scenario;
    case 'no_answer':
      // Rings past the originate's timeout (RING_TIMEOUT_SECONDS below).
      return { ...base, outcome: 'noanswer', ringSeconds: 120 } as Scenario;
    case 'voicemail':
      // As a real machine: AMD takes a while, then a greeting, the tone, and it records until silence.
      return {
        ...base,
        outcome: 'answer',
        ringSeconds: 0,
        amd: { status: 'MACHINE', cause: 'LONGGREETING-2000-1500', analysisMs: 1500 },
        states: {
          start: {
            say: 'Hi, you have reached Dana. Please leave a message after the tone.',
            beep: true,
            record: { maxSeconds: 10, silenceSeconds: 2 },
            hangup: true,
          },
        },
      } as Scenario;
    case 'person':
      return {
        ...base,
        outcome: 'answer',
        ringSeconds: 0,
        amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
        hangupAfterSeconds: 2,
        states: { start: { say: 'Hello?' } },
      } as Scenario;
  }
}

/** The PBX's originate times of `number` (ms), from its callee log. */
function originates(sim: SimulatedPbx, number: string): number[] {
  return sim
    .calleeLog(number)
    .filter((e) => e.kind === 'event' && e.text.startsWith('incoming call'))
    .map((e) => Date.parse(e.at.replace(/\+0000$/, 'Z')));
}

/** "HH:MM" of `at` in `zone`. */
function localHhMm(at: Date, zone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
    .format(at)
    .slice(0, 5);
}

interface Receiver {
  url: string;
  events: Record<string, any>[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const events: Record<string, any>[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        events.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        // Not an event: counted nowhere.
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    events,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.skipIf(!usePostgres)('a batch of 1,000 calls, two workers, one killed', () => {
  let dir: string;
  let tdb: TestDatabase;
  let sim: SimulatedPbx;
  let standin: LlmStandin;
  let receiver: Receiver;
  let tts: TextToSpeech;
  let stt: SpeechToText;
  const procs: ServeProcess[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-batch-'));
    await fs.mkdir(path.join(dir, 'models'));
    tdb = await createTestDatabase();
    tts = await createFliteTts();
    stt = await createPocketsphinxStt();
    standin = await startLlmStandin({ turns: 1 });
    receiver = await startReceiver();
    const scenarios: Scenario[] = [];
    for (let i = 0; i < ROWS; i++) scenarios.push(scenarioFor(rowNumber(i), kindOf(i)));
    for (let i = 0; i < 20; i++) scenarios.push(scenarioFor(windowNumber(i), 'busy'));
    sim = await startSimulatedPbx({
      username: 'asterisk',
      password: 'batch-secret',
      scenarios,
      tts,
      stt,
      logger: silentLogger(),
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop(20_000)));
    await sim?.stop();
    await standin?.close();
    await receiver?.close();
    await tts?.close();
    await stt?.close();
    await tdb?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 90_000);

  it('every row ends exactly once, retries as asked, never above the trunk limits, outside its hours, on the list, or twice', async () => {
    const shared = {
      DATABASE_URL: tdb.url!,
      SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      MODELS_DIR: path.join(dir, 'models'),
      MODELS_AUTO_FETCH: 'false',
      STT_ENGINE: 'pocketsphinx',
      TTS_ENGINE: 'flite',
      DIALOGUE_ENGINE: 'openai',
      LLM_URL: standin.url,
      ARI_URL: sim.ariUrl,
      ARI_USERNAME: 'asterisk',
      ARI_PASSWORD: 'batch-secret',
      RING_TIMEOUT_SECONDS: '5',
      HOST: '127.0.0.1',
      PORT: '0',
      RECORDINGS_DIR: path.join(dir, 'recordings'),
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_FIRST_SECONDS: '1',
      WEBHOOK_RETRY_MAX_SECONDS: '5',
      CAP_CALLS_PER_MINUTE: '100000',
      CAP_CALLS_PER_DAY: '100000',
      CAP_CONCURRENT_CALLS: '1000',
      TRUNK_MAX_CPS: String(CPS),
      TRUNK_MAX_CHANNELS: String(CHANNELS),
      WORKER_CONCURRENCY: '24',
      WORKER_STALE_SECONDS: '5',
      SUMMARY_TIMEOUT_SECONDS: '5',
      // At the end every call has ended; a runner still winding down is cut short after 15 s, not 600.
      DRAIN_SECONDS: '15',
      LOG_LEVEL: 'warn',
    };
    const apiData = path.join(dir, 'api');
    const apiProc = startServe('api', { ...shared, DATA_DIR: apiData, LOG_LEVEL: 'info' });
    procs.push(apiProc);
    const workers = [1, 2].map((n) =>
      startServe('worker', {
        ...shared,
        DATA_DIR: path.join(dir, `worker-${n}`),
        ARI_APP: `agentline-w${n}`,
      }),
    );
    procs.push(...workers);
    const serving = await apiProc.logged((l) => l.msg === 'agentline is serving');
    const url = String(serving.url);
    const key = (
      JSON.parse(await fs.readFile(path.join(apiData, 'first-api-key.json'), 'utf8')) as { key: string }
    ).key;
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    const request = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${url}${p}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
    };

    // Listed before: refused at acceptance, as a single call would be.
    const listedBefore = Array.from({ length: LISTED_BEFORE }, (_, k) =>
      rowNumber(BUSY + NO_ANSWER + VOICEMAIL + k),
    );
    expect((await request('POST', '/v1/agent/do-not-call', { numbers: listedBefore })).status).toBe(200);

    // A second, small batch to New York whose calling window opens two minutes from now there, five of
    // whose numbers are listed after it was accepted.
    const opensAt = new Date(Math.ceil((Date.now() + 90_000) / 60_000) * 60_000);
    const closesAt = new Date(opensAt.getTime() + 3 * 3600_000);
    const windowBatch = await request('POST', '/v1/agent/batches', {
      name: 'window',
      template: { objective: 'Remind {{name}} of the appointment.' },
      rows: Array.from({ length: 20 }, (_, i) => ({
        to: windowNumber(i),
        variables: { name: `Person ${i}` },
      })),
      callWindow: {
        start: localHhMm(opensAt, 'America/New_York'),
        end: localHhMm(closesAt, 'America/New_York'),
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      },
    });
    expect(windowBatch.status, JSON.stringify(windowBatch.body)).toBe(201);
    expect(windowBatch.body.acceptedRows).toBe(20);
    const listedAfter = Array.from({ length: 5 }, (_, i) => windowNumber(i));
    expect((await request('POST', '/v1/agent/do-not-call', { numbers: listedAfter })).status).toBe(200);

    const big = await request('POST', '/v1/agent/batches', {
      name: 'reminders',
      template: {
        objective: 'Remind {{name}} of the appointment on {{day}}.',
        webhookUrl: receiver.url,
        maxDurationSeconds: 30,
      },
      rows: Array.from({ length: ROWS }, (_, i) => ({
        to: rowNumber(i),
        variables: { name: `Person ${i}`, day: 'Tuesday' },
        metadata: { row: i },
      })),
      retry: { maxAttempts: 2, delaySeconds: 60, on: ['no_answer'] },
      concurrency: 60,
    });
    expect(big.status, JSON.stringify(big.body).slice(0, 2000)).toBe(201);
    expect(big.body.totalRows).toBe(ROWS);
    expect(big.body.acceptedRows).toBe(ROWS - LISTED_BEFORE);
    expect(big.body.refused.map((r: any) => [r.to, r.code, r.details?.category])).toEqual(
      listedBefore.map((n) => [n, 'destination_blocked', 'do_not_call']),
    );
    const batchId = String(big.body.batchId);
    const t0 = Date.now();
    const elapsed = () => `${Math.round((Date.now() - t0) / 1000)} s`;

    // Mid-batch, one worker dies without a goodbye.
    const totalOriginates = () => {
      let n = 0;
      for (let i = 0; i < ROWS; i++) n += originates(sim, rowNumber(i)).length;
      return n;
    };
    await vi.waitFor(() => expect(totalOriginates()).toBeGreaterThanOrEqual(300), {
      timeout: 240_000,
      interval: 500,
    });
    workers[0].child.kill('SIGKILL');
    await workers[0].exit;
    console.log(`worker 1 killed after ${totalOriginates()} originates, ${elapsed()} after acceptance`);

    // The batch finishes on the other worker (retries wait 60 s after their first attempt).
    let batch: Record<string, any> = {};
    await vi.waitFor(
      async () => {
        batch = (await request('GET', `/v1/agent/batches/${batchId}?limit=1`)).body;
        expect(batch.status).toBe('completed');
      },
      { timeout: 420_000, interval: 1000 },
    );
    console.log(`batch completed ${elapsed()} after acceptance`);
    expect(batch.counts.queued + batch.counts.dialing + batch.counts.in_progress).toBe(0);
    expect(batch.progress).toEqual({ ended: ROWS - LISTED_BEFORE, total: ROWS - LISTED_BEFORE });

    // Every row's call, read through the API's pages.
    const calls: Record<string, any>[] = [];
    let cursor: string | null = null;
    do {
      const page: Record<string, any> = (
        await request('GET', `/v1/agent/batches/${batchId}?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      ).body;
      calls.push(...page.calls);
      cursor = page.nextCursor;
    } while (cursor);
    expect(calls).toHaveLength(ROWS - LISTED_BEFORE);
    expect(new Set(calls.map((c) => c.to)).size).toBe(ROWS - LISTED_BEFORE);

    const lost: string[] = [];
    const problems: string[] = [];
    const byOutcome = new Map<string, number>();
    for (const c of calls) {
      const i = Number(String(c.to).slice(-4));
      const full = (await request('GET', `/v1/agent/calls/${c.callId}`)).body;
      const outcome = `${kindOf(i)} -> ${full.status}/${full.endedReason} attempt ${full.attempt}`;
      byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
      const dialedAttempts = (full.attempts as any[]).filter((a) => a.dialedAt !== null).length;
      const context = `${c.to} (${kindOf(i)}): ${full.status}/${full.endedReason} attempts ${JSON.stringify(full.attempts)}`;
      // Nothing dialled twice: the PBX saw one originate per attempt that dialled, no more.
      if (originates(sim, c.to).length !== dialedAttempts)
        problems.push(`${context}: ${originates(sim, c.to).length} originates`);
      if (full.status === 'failed' && full.endedReason === 'worker_lost') {
        lost.push(c.to);
        continue;
      }
      const expected: Record<Kind, (f: Record<string, any>) => boolean> = {
        busy: (f) => f.status === 'declined' && f.endedReason === 'busy' && f.attempt === 1,
        // Retried once, 60 s or more after the first attempt ended.
        no_answer: (f) =>
          f.status === 'no_answer' &&
          f.attempt === 2 &&
          f.attempts.every((a: any) => a.status === 'no_answer') &&
          Date.parse(f.attempts[1].dialedAt) - Date.parse(f.attempts[0].endedAt) >= 60_000,
        // Answered calls end once, whatever the conversation made of them: on starved cores a machine's
        // tone can go unheard and the agent then talks to the greeting (the voicemail tests cover the
        // tone itself). What the queue owes them is one attempt (answers are not retried here) and an end.
        voicemail: (f) => ['voicemail', 'completed', 'failed'].includes(f.status) && f.attempt === 1,
        person: (f) => (f.status === 'completed' || f.status === 'failed') && f.attempt === 1,
      };
      if (!expected[kindOf(i)](full)) problems.push(context);
    }
    console.log(
      `batch outcomes:\n${[...byOutcome].map(([k, n]) => `  ${String(n).padStart(4)}  ${k}`).join('\n')}`,
    );
    expect(problems).toEqual([]);
    // Only calls that were on the line when their worker died are lost, at most what it could hold.
    expect(lost.length).toBeLessThanOrEqual(24);

    // The trunk's limits, measured at the PBX: never more than CPS originates in any second.
    const all: number[] = [];
    for (let i = 0; i < ROWS; i++) all.push(...originates(sim, rowNumber(i)));
    for (let i = 0; i < 20; i++) all.push(...originates(sim, windowNumber(i)));
    all.sort((a, b) => a - b);
    for (let i = 0; i + CPS < all.length; i++) {
      expect(all[i + CPS] - all[i], `originates ${i}..${i + CPS}`).toBeGreaterThanOrEqual(1000);
    }

    // The window batch: nothing rang before its window opened; the numbers listed after acceptance never rang.
    let win: Record<string, any> = {};
    await vi.waitFor(
      async () => {
        win = (await request('GET', `/v1/agent/batches/${windowBatch.body.batchId}?limit=100`)).body;
        expect(win.status).toBe('completed');
      },
      { timeout: 240_000, interval: 1000 },
    );
    for (const c of win.calls as Record<string, any>[]) {
      const times = originates(sim, c.to);
      if (listedAfter.includes(c.to)) {
        expect(times, c.to).toEqual([]);
        expect([c.status, c.endedReason]).toEqual(['failed', 'do_not_call']);
      } else {
        expect(times.length, c.to).toBe(1);
        expect(times[0], c.to).toBeGreaterThanOrEqual(opensAt.getTime());
      }
    }

    // One batch.completed for each batch that had a webhook, with the counts.
    await vi.waitFor(
      () => expect(receiver.events.filter((e) => e.event === 'batch.completed')).toHaveLength(1),
      {
        timeout: 30_000,
        interval: 250,
      },
    );
    const done = receiver.events.find((e) => e.event === 'batch.completed')!;
    expect(done.batchId).toBe(batchId);
    expect(Object.values(done.counts as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(
      ROWS - LISTED_BEFORE,
    );

    expect(workers[1].alive()).toBe(true);
    expect(await apiProc.stop(120_000)).toBe(0);
    // The surviving worker exits on SIGTERM. It used not to, beside busy processes: its recogniser's
    // thread decoded a backlog of ended calls' audio before it reached the shutdown. The bound only
    // catches a hang; the worker's last lines (its stop names a slow step) say where.
    const stopped = await workers[1].stop(60_000);
    expect(stopped, JSON.stringify(workers[1].lines.slice(-15))).toBe(0);
  }, 600_000);
});
