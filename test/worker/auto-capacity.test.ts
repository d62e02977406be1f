import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { scrape } from '../metrics/scrape.js';

// `agentline serve` with WORKER_CONCURRENCY=auto (the tests' environment fixes it at 4): the worker
// measures its engines in the background after start, then sizes its capacity from them, and says so
// in its log, its heartbeat row (/readyz) and /metrics alike.

async function until<T>(probe: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

let dir: string;
let tdb: TestDatabase | null = null;
let app: Agentline;
const lines: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-auto-capacity-'));
  await fs.mkdir(path.join(dir, 'models'));
  if (process.env.DATABASE_URL) tdb = await createTestDatabase();
  app = await startAgentline({
    role: 'all',
    env: {
      ...TEST_CALL_WINDOW,
      WORKER_CONCURRENCY: 'auto',
      MODELS_DIR: path.join(dir, 'models'),
      MODELS_AUTO_FETCH: 'false',
      // Measured as "the dialogue runs elsewhere": nothing listens there, and no call is placed.
      DIALOGUE_ENGINE: 'openai',
      LLM_URL: 'http://127.0.0.1:9',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: path.join(dir, 'data'),
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
    },
    logger: createLogger('info', { write: (s: string) => void lines.push(s) }),
  });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}, 60_000);

describe('WORKER_CONCURRENCY=auto', () => {
  it('measures the engines after start, then reports the capacity they allow in the log, /readyz and /metrics', async () => {
    const measured = await until(async () =>
      lines
        .map((l) => JSON.parse(l) as { msg: string; profile?: Record<string, unknown>; capacity?: unknown })
        .find((l) => l.msg.startsWith('voice engines measured')),
    );
    expect(measured.profile).toMatchObject({ cores: os.availableParallelism(), llm: null });
    expect(measured.profile?.sttRtf).toBeGreaterThan(0);
    expect(measured.profile?.ttsRtf).toBeGreaterThan(0);

    // The heartbeat after the measurement carries it: no longer 'measuring'.
    const ready = await until(async () => {
      const body = (await (await fetch(`${app.url}/readyz`)).json()) as {
        capacity: { workers: number; liveCalls: number; capacity: number | null; full: boolean };
      };
      const s = await scrape(app.url!);
      return s.value('agentline_worker_limited_by', { reason: 'measuring' }) === 0 &&
        body.capacity.capacity === s.value('agentline_worker_capacity_calls')
        ? { body: body.capacity, s }
        : null;
    });
    expect(ready.body).toMatchObject({ workers: 1, liveCalls: 0, full: false });
    expect(ready.body.capacity).toBeGreaterThanOrEqual(1);
    expect(ready.s.value('agentline_worker_full')).toBe(0);
    const reasons = ready.s.family('agentline_worker_limited_by').metrics;
    expect(reasons).toHaveLength(1);
    expect(['cpu', 'dialogue', 'load', 'late_replies', 'recognition_backlog', 'configured']).toContain(
      reasons[0].labels?.reason,
    );
    // The recogniser's lag behind the calls' audio, which lowers the capacity when it grows: no call, none.
    expect(ready.s.value('agentline_stt_backlog_seconds')).toBe(0);
  }, 120_000);
});
