import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/calls/status.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { callEvents } from '../../src/db/schema.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { type ServeProcess, startServe } from '../e2e-stack/serve-process.js';
import { type PgCluster, pgClusterUnavailable, startPgCluster } from '../helpers/pg-cluster.js';

// The database goes away under load: the API and the worker run as the real `serve` processes on a
// PostgreSQL cluster of this test's own, which the test stops (immediate: every connection drops, as
// in a crash or failover) while calls are live, and starts again.

const CALLEE = '+14155550193';
/** Answers at once, talks, and hangs up 15 s after answering: long enough to be live when the database stops. */
const callee = {
  number: CALLEE,
  description: 'Greets, answers anything with a question, and hangs up after 15 s.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  hangupAfterSeconds: 15,
  states: { start: { say: 'Hello, thank you for calling the corner shop. How can I help you today?' } },
  fallback: 'Sorry, who is this?',
};
const CALLS = 3;

const unavailable = pgClusterUnavailable();

describe.skipIf(unavailable !== null)(
  `a PostgreSQL restart under load${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  { timeout: 420_000 },
  () => {
    let dir: string;
    let cluster: PgCluster;
    let db: Database;
    let apiProc: ServeProcess;
    let workerProc: ServeProcess;
    let hooks: http.Server;
    const received: { eventId: string; event: string; callId: string }[] = [];

    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-restart-'));
      await fs.mkdir(path.join(dir, 'models'));
      await fs.mkdir(path.join(dir, 'scenarios'));
      await fs.writeFile(path.join(dir, 'scenarios', 'callee.json'), JSON.stringify(callee));
      await writeSyntheticGguf(path.join(dir, 'models', 'tiny.gguf'), { shape: 'tiny', seed: 7 });
      cluster = await startPgCluster();
      hooks = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        req.on('end', () => {
          received.push(JSON.parse(body));
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    }, 120_000);

    afterAll(async () => {
      for (const p of [apiProc, workerProc]) {
        if (p?.alive()) p.child.kill('SIGKILL');
      }
      await db?.close();
      hooks?.close();
      await cluster?.destroy();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    }, 60_000);

    it('the API and the worker stay up, the API answers 503 naming the database, and every accepted call ends once', async () => {
      const env = {
        DATABASE_URL: cluster.url,
        SECRET_KEY: crypto.randomBytes(32).toString('hex'),
        RECORDINGS_DIR: path.join(dir, 'recordings'),
        MODELS_DIR: path.join(dir, 'models'),
        MODELS_AUTO_FETCH: 'false',
        SCENARIOS_DIR: path.join(dir, 'scenarios'),
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        // A delivery that failed in the outage is retried within the test's wait, not after 45 s or more.
        WEBHOOK_RETRY_FIRST_SECONDS: '1',
        WEBHOOK_RETRY_MAX_SECONDS: '5',
        WORKER_CONCURRENCY: String(CALLS),
      };
      apiProc = startServe('api', { ...env, DATA_DIR: path.join(dir, 'api') });
      const url = String((await apiProc.logged((l) => l.msg === 'agentline is serving')).url);
      // Debug: the controller's `call ending` line marks a line going down.
      workerProc = startServe('worker', { ...env, DATA_DIR: path.join(dir, 'worker'), LOG_LEVEL: 'debug' });
      await workerProc.logged((l) => l.msg === 'call worker started');
      const { key } = JSON.parse(await fs.readFile(path.join(dir, 'api', 'first-api-key.json'), 'utf8'));
      const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
      const get = (id: string) => fetch(`${url}/v1/agent/calls/${id}`, { headers });
      const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;

      const ids: string[] = [];
      for (let i = 0; i < CALLS; i++) {
        const res = await fetch(`${url}/v1/agent/calls`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            to: CALLEE,
            objective: 'Ask whether the shop is open today.',
            webhookUrl: hookUrl,
            maxDurationSeconds: 60,
          }),
        });
        expect(res.status, await res.clone().text()).toBe(201);
        ids.push(((await res.json()) as { callId: string }).callId);
      }
      // Calls in flight: at least one callee is on the line and the agent talks with it.
      await expect
        .poll(
          async () => {
            const views = await Promise.all(
              ids.map(async (id) => ((await (await get(id)).json()) as { status: string }).status),
            );
            return views.filter((s) => s === 'in_progress').length;
          },
          { timeout: 180_000, interval: 200 },
        )
        .toBeGreaterThan(0);

      await cluster.stop('immediate');
      const downAt = new Date();

      // The API answers 503 that names the database, for reads and for new calls alike.
      const down = await get(ids[0]);
      expect(down.status).toBe(503);
      const body = (await down.json()) as {
        error: { code: string; details: { missing: { name: string }[] } };
      };
      expect(body.error.code).toBe('service_unavailable');
      expect(body.error.details.missing.map((m) => m.name)).toEqual(['database']);
      const placed = await fetch(`${url}/v1/agent/calls`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ to: CALLEE, objective: 'Never stored.' }),
      });
      expect(placed.status).toBe(503);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      const readyBody = (await ready.json()) as {
        missing: { name: string }[];
        checks: Record<string, { ok: boolean }>;
      };
      expect(readyBody.missing.map((m) => m.name)).toEqual(['database']);
      expect(readyBody.checks.database.ok).toBe(false);

      // A live call goes on without the database, until its callee hangs up while the database is away.
      await workerProc.logged(
        (l) => l.msg === 'call ending' && ids.includes(String(l.callId)) && Number(l.time) > downAt.getTime(),
      );
      expect(apiProc.alive()).toBe(true);
      expect(workerProc.alive()).toBe(true);

      await cluster.start();
      const upAt = new Date();

      const ended: Record<string, any>[] = [];
      for (const id of ids) {
        let view: Record<string, any> = {};
        await expect
          .poll(
            async () => {
              const res = await get(id);
              if (res.status !== 200) return `HTTP ${res.status}`;
              view = (await res.json()) as Record<string, any>;
              return isTerminal(view.status);
            },
            { timeout: 240_000, interval: 250 },
          )
          .toBe(true);
        ended.push(view);
      }
      const context = JSON.stringify(
        ended.map((c) => [c.status, c.endedReason, c.startedAt, c.endedAt, c.turns.length]),
      );
      for (const call of ended) {
        // Answered and ended by the call itself, not by the outage (no worker_lost or worker_shutdown).
        expect(call.startedAt, context).not.toBeNull();
        expect(['worker_lost', 'worker_shutdown'], context).not.toContain(call.endedReason);
        expect(new Date(call.startedAt) <= new Date(call.endedAt), context).toBe(true);
      }
      // The turns a call could not store while the database was away are there now.
      const buffered = workerProc.lines
        .filter((l) => l.msg === "could not store the call's turn; retrying")
        .map((l) => String(l.callId));
      for (const id of new Set(buffered)) {
        expect(ended.find((c) => c.id === id)?.turns.length, context).toBeGreaterThan(0);
      }
      // At least one call's line went down during the outage, and its end time is that hangup, not the write.
      expect(
        ended.some((c) => new Date(c.endedAt) >= downAt && new Date(c.endedAt) < upAt),
        context,
      ).toBe(true);

      // Dialed once each.
      db = await openDatabase({ url: cluster.url, maxConnections: 2 });
      const events = await db.db.select().from(callEvents);
      for (const id of ids) {
        const mine = events.filter((e) => e.callId === id).map((e) => e.toStatus);
        expect(
          mine.filter((s) => s === 'dialing'),
          `${id}: ${mine}`,
        ).toHaveLength(1);
        expect(
          mine.filter((s) => isTerminal(s)),
          `${id}: ${mine}`,
        ).toHaveLength(1);
      }
      // Both webhook events of every call, and no event under two ids. The deliverer retries with backoff
      // after the outage and keeps no order between events, so the terminal one may come first: wait for both.
      await expect
        .poll(
          () =>
            ids.every((id) =>
              [`call.${ended.find((c) => c.id === id)!.status}`, 'call.in_progress'].every((event) =>
                received.some((r) => r.callId === id && r.event === event),
              ),
            ),
          {
            timeout: 120_000,
          },
        )
        .toBe(true);
      for (const id of ids) {
        const mine = received.filter((r) => r.callId === id);
        const distinct = new Map(mine.map((r) => [r.eventId, r.event]));
        const byEvent = [...distinct.values()].sort();
        expect(byEvent, JSON.stringify(mine)).toEqual(
          [`call.${ended.find((c) => c.id === id)!.status}`, 'call.in_progress'].sort(),
        );
      }

      // Neither process failed a request with a 500 or died; both stop cleanly.
      expect(apiProc.lines.filter((l) => l.status === 500)).toEqual([]);
      expect(apiProc.alive() && workerProc.alive()).toBe(true);
      expect(await apiProc.stop()).toBe(0);
      expect(await workerProc.stop()).toBe(0);
    });
  },
);
