import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { scrape } from './scrape.js';

// A worker-only process has no API server: Prometheus reaches it on METRICS_PORT.
describe('a --role worker process with METRICS_PORT', () => {
  const token = 'worker-metrics-token-0123456789';
  let dir: string;
  let tdb: TestDatabase | null = null;
  let worker: Agentline;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-worker-metrics-'));
    if (process.env.DATABASE_URL) tdb = await createTestDatabase();
    worker = await startAgentline({
      role: 'worker',
      env: {
        ...TEST_CALL_WINDOW,
        // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
        WORKER_CONCURRENCY: '4',
        DATA_DIR: dir,
        MODELS_DIR: path.join(dir, 'models'),
        MODELS_AUTO_FETCH: 'false',
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        METRICS_TOKEN: token,
        ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
      },
      logger: silentLogger(),
    });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
    await tdb?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('serves its metrics on the metrics listener only, behind the token', async () => {
    expect(worker.url).toBeNull();
    expect(worker.metricsUrl).not.toBeNull();
    const refused = await fetch(`${worker.metricsUrl}/metrics`);
    expect(refused.status).toBe(401);
    const s = await scrape(worker.metricsUrl!, { headers: { authorization: `Bearer ${token}` } });
    expect(s.value('agentline_pbx_connected')).toBe(1);
    expect(s.value('agentline_worker_active_calls')).toBe(0);
    expect(s.family('agentline_worker_heartbeat_age_seconds').metrics).toHaveLength(1);
    expect(s.value('agentline_queue_depth')).toBe(0);
    // No dialogue model is installed here: the worker claims nothing, but its synthesizer is known.
    expect(s.value('agentline_engine_info', { kind: 'tts', engine: 'flite' })).toBe(1);
  });
});
