import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { CallStore } from '../../src/calls/call-store.js';
import { loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { accounts, calls, type WebhookDeliveryRow, webhookDeliveries } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import {
  createWebhookDeliverer,
  defaultBackoff,
  exponentialBackoff,
  leaseMs,
  type WebhookDeliverer,
  type WebhookDelivererDeps,
  webhookRetrySchedule,
} from '../../src/webhooks/deliverer.js';
import { redeliverWebhooks } from '../../src/webhooks/redeliver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type Receiver, startReceiver } from './receiver.js';

const secrets = SecretBox.fromKey('0'.repeat(64));
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The receiver's own check, written against the spec with node:crypto only. */
function independentlyVerified(body: string, header: string | undefined, secret: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(Date.now() / 1000 - t) > 300) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return crypto.timingSafeEqual(expected, Buffer.from(m[2], 'hex'));
}

async function until<T>(probe: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webhook deliverer', () => {
  let t: TestDatabase;
  let store: CallStore;
  let accountId: string;
  let secret: string;
  let receiver: Receiver;
  const deliverers: WebhookDeliverer[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example');
    const svc = new AccountService(t.db, secrets);
    ({ accountId } = await svc.createAccount('acme'));
    secret = (await svc.webhookSecret(accountId))!;
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await Promise.all(deliverers.splice(0).map((d) => d.stop()));
    await receiver.close();
    // Each test starts with an empty outbox, so one test's retries never land in another's receiver.
    await t.db.delete(webhookDeliveries);
  });

  function deliverer(over: Partial<WebhookDelivererDeps> = {}): WebhookDeliverer {
    const d = createWebhookDeliverer({
      db: t.db,
      secrets,
      logger: silentLogger(),
      timeoutMs: 5000,
      retryHours: 48,
      allowHttp: true,
      allowPrivate: true,
      backoff: () => 0,
      ...over,
    });
    deliverers.push(d);
    return d;
  }

  async function newCall(webhookUrl: string, acc = accountId) {
    const [c] = await t.db
      .insert(calls)
      .values({
        accountId: acc,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Book a table for two at 7pm',
        language: 'en-US',
        webhookUrl,
        metadata: { ticket: 'T-42' },
      })
      .returning();
    return c;
  }

  /** One outbox row, written by the store the way a canceled call writes it. */
  async function canceledCallEvent(webhookUrl = receiver.url, acc = accountId): Promise<WebhookDeliveryRow> {
    const c = await newCall(webhookUrl, acc);
    expect((await store.transition(c.id, 'failed', { reason: 'canceled' })).ok).toBe(true);
    const [row] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, c.id));
    return row;
  }

  const rowOf = async (id: string) =>
    (await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0];

  it('POSTs each event of a call signed with the account secret, with its eventId', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'trace' },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const c = await newCall(receiver.url);
    await store.transition(c.id, 'dialing');
    await store.transition(c.id, 'in_progress');
    await store.addTurn(c.id, {
      speaker: 'agent',
      text: 'Hello, I would like a table.',
      startMs: 0,
      endMs: 900,
    });
    await store.transition(c.id, 'completed', { reason: 'objective_met', patch: { summary: 'Booked.' } });

    const d = deliverer({ logger });
    expect(await d.drainOnce()).toBe(2);

    expect(receiver.received).toHaveLength(2);
    const events = receiver.received.map((r) => JSON.parse(r.body));
    expect(events.map((e) => e.event).sort()).toEqual(['call.completed', 'call.in_progress']);
    for (const r of receiver.received) {
      const body = JSON.parse(r.body);
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/hooks/agentline');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toMatch(/^agentline-webhooks\//);
      expect(independentlyVerified(r.body, r.headers['x-bys-signature'] as string, secret)).toBe(true);
      expect(independentlyVerified(r.body, r.headers['x-bys-signature'] as string, 'whsec_wrong')).toBe(
        false,
      );
      expect(r.headers['x-bys-event-id']).toBe(body.eventId);
      expect(body.callId).toBe(c.id);
      expect(body.metadata).toEqual({ ticket: 'T-42' });
      const row = await rowOf(body.eventId);
      expect(row).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null });
      expect(row.deliveredAt).toBeInstanceOf(Date);
    }
    const done = events.find((e) => e.event === 'call.completed');
    expect(done).toMatchObject({
      status: 'completed',
      summary: 'Booked.',
      endedReason: 'objective_met',
      transcript: 'Agent: Hello, I would like a table.',
    });

    // Nothing secret or private reaches the logs: not the secret, not the body, not the URL path.
    const log = lines.join('');
    expect(log).toContain('webhook delivered');
    expect(log).not.toContain(secret);
    expect(log).not.toContain('Book a table');
    expect(log).not.toContain('Hello, I would like');
    expect(log).not.toContain('/hooks/agentline');
    expect(await d.drainOnce()).toBe(0);
  });

  it('retries a failing receiver with the same eventId until it answers 2xx', async () => {
    const row = await canceledCallEvent();
    receiver.reply((n) => [500, 503, 204][n] ?? 500);
    const d = deliverer();

    expect(await d.drainOnce()).toBe(1);
    expect(await rowOf(row.id)).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 500 });
    expect((await rowOf(row.id)).lastError).toMatch(/500/);
    expect(await d.drainOnce()).toBe(1);
    expect(await rowOf(row.id)).toMatchObject({ status: 'pending', attempts: 2, lastStatusCode: 503 });
    expect(await d.drainOnce()).toBe(1);
    expect(await rowOf(row.id)).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 204 });

    expect(receiver.received).toHaveLength(3);
    const ids = receiver.received.map((r) => r.headers['x-bys-event-id']);
    expect(new Set(ids)).toEqual(new Set([row.id]));
    expect(new Set(receiver.received.map((r) => JSON.parse(r.body).eventId))).toEqual(new Set([row.id]));
    for (const r of receiver.received)
      expect(independentlyVerified(r.body, r.headers['x-bys-signature'] as string, secret)).toBe(true);
  });

  it('waits for the backoff before the next attempt', async () => {
    const row = await canceledCallEvent();
    receiver.reply(() => 500);
    const before = Date.now();
    const d = deliverer({ backoff: (n) => n * 3_600_000 });
    expect(await d.drainOnce()).toBe(1);
    const after = await rowOf(row.id);
    expect(after.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(await d.drainOnce()).toBe(0);
    expect(receiver.received).toHaveLength(1);
  });

  it('resumes pending deliveries after a restart, on a new connection', async () => {
    const row = await canceledCallEvent();
    receiver.reply((n) => (n === 0 ? 500 : 200));
    const first = deliverer();
    expect(await first.drainOnce()).toBe(1);
    await first.stop();
    expect(await rowOf(row.id)).toMatchObject({ status: 'pending', attempts: 1 });

    // PGlite is one in-process database: "a new connection" there is the same handle.
    const second: Database = t.url ? await openDatabase({ url: t.url, maxConnections: 2 }) : t;
    try {
      const d = deliverer({ db: second.db, pollMs: 20 });
      d.start();
      const delivered = await until(async () => {
        const r = await rowOf(row.id);
        return r.status === 'delivered' && r;
      });
      expect(delivered.attempts).toBe(2);
      await d.stop();
    } finally {
      if (second !== t) await second.close();
    }
    expect(receiver.received.map((r) => r.headers['x-bys-event-id'])).toEqual([row.id, row.id]);
  });

  it('two deliverers on two connections never send the same attempt', async () => {
    const rows = await Promise.all(Array.from({ length: 12 }, () => canceledCallEvent()));
    const second: Database = t.url ? await openDatabase({ url: t.url, maxConnections: 4 }) : t;
    try {
      const a = deliverer({ concurrency: 12 });
      const b = deliverer({ db: second.db, concurrency: 12 });
      const [na, nb] = await Promise.all([a.drainOnce(), b.drainOnce()]);
      expect(na + nb).toBe(12);
    } finally {
      if (second !== t) await second.close();
    }
    const got = receiver.received.map((r) => r.headers['x-bys-event-id']).sort();
    expect(got).toEqual(rows.map((r) => r.id).sort());
  });

  it('a request with no answer within timeoutMs is retried', async () => {
    const row = await canceledCallEvent();
    receiver.reply((n) => (n === 0 ? 'hang' : 200));
    const d = deliverer({ timeoutMs: 300 });
    expect(await d.drainOnce()).toBe(1);
    const failed = await rowOf(row.id);
    expect(failed).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect(failed.lastError).toMatch(/no response within 300 ms/);
    expect(await d.drainOnce()).toBe(1);
    expect(await rowOf(row.id)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const row = await canceledCallEvent();
    receiver.reply(() => 302);
    expect(await deliverer().drainOnce()).toBe(1);
    const r = await rowOf(row.id);
    expect(r).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 302 });
    expect(r.lastError).toMatch(/redirect/);
    expect(receiver.received.map((x) => x.path)).toEqual(['/hooks/agentline']);
  });

  it('marks a delivery dead once the retry window is over', async () => {
    const row = await canceledCallEvent();
    receiver.reply(() => 500);
    const later = new Date(row.createdAt.getTime() + 49 * 3_600_000);
    expect(await deliverer({ retryHours: 48, clock: () => later }).drainOnce()).toBe(1);
    expect(await rowOf(row.id)).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: 500 });
    expect(await deliverer({ clock: () => later }).drainOnce()).toBe(0);
  });

  it('never schedules a retry past the end of the window', async () => {
    const row = await canceledCallEvent();
    receiver.reply(() => 500);
    const end = row.createdAt.getTime() + 24 * 3_600_000;
    const nearEnd = new Date(end - 60_000);
    await deliverer({ retryHours: 24, clock: () => nearEnd, backoff: () => 3_600_000 }).drainOnce();
    const r = await rowOf(row.id);
    expect(r.status).toBe('pending');
    expect(r.nextAttemptAt.getTime()).toBe(end);
  });

  it('an account without a webhook secret gets no unsigned request', async () => {
    const [bare] = await t.db.insert(accounts).values({ name: 'no-secret' }).returning();
    const row = await canceledCallEvent(receiver.url, bare.id);
    expect(await deliverer().drainOnce()).toBe(1);
    const r = await rowOf(row.id);
    expect(r).toMatchObject({ status: 'pending', attempts: 1 });
    expect(r.lastError).toMatch(/no webhook secret/);
    expect(receiver.received).toHaveLength(0);
  });

  describe('SSRF guard at send time', () => {
    it('refuses plain http by default, and marks the delivery dead at once: no retry can succeed', async () => {
      const row = await canceledCallEvent();
      await deliverer({ allowHttp: false, allowPrivate: false }).drainOnce();
      const r = await rowOf(row.id);
      expect(r).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: null });
      expect(r.lastError).toMatch(/WEBHOOK_ALLOW_HTTP/);
      expect(await deliverer({ allowHttp: false, allowPrivate: false }).drainOnce()).toBe(0);
      expect(receiver.received).toHaveLength(0);
    });

    it('refuses loopback unless private targets are allowed; a redelivery after opening them delivers', async () => {
      const literal = await canceledCallEvent();
      const byName = await canceledCallEvent(`http://localhost:${receiver.port}/hook`);
      // A trailing dot names the same host; it goes through the lookup too, where 127.0.0.1 is refused.
      const dotted = await canceledCallEvent(`http://localhost.:${receiver.port}/hook`);
      const resolved = await canceledCallEvent(`http://hook.invalid:${receiver.port}/hook`);
      const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
      expect(await deliverer({ allowHttp: true, allowPrivate: false, resolve }).drainOnce()).toBe(4);
      expect((await rowOf(literal.id)).lastError).toMatch(/127\.0\.0\.1 is loopback/);
      expect((await rowOf(byName.id)).lastError).toMatch(/host localhost is loopback/);
      expect((await rowOf(dotted.id)).lastError).toMatch(/host localhost\. is loopback/);
      expect((await rowOf(resolved.id)).lastError).toMatch(/hook\.invalid: address 127\.0\.0\.1 is loopback/);
      for (const row of [literal, byName, dotted, resolved])
        expect(await rowOf(row.id)).toMatchObject({ status: 'dead', attempts: 1 });
      expect(receiver.received).toHaveLength(0);

      // Dead rows are never claimed again, whatever the policy, until they are redelivered.
      const open = deliverer({ allowHttp: true, allowPrivate: true, resolve });
      expect(await open.drainOnce()).toBe(0);
      expect(await redeliverWebhooks(t.db, { accountId, timeoutMs: 5000 })).toEqual({
        dead: 4,
        pending: 0,
        redelivered: 4,
      });
      expect(await open.drainOnce()).toBe(4);
      for (const row of [literal, byName, dotted, resolved])
        expect(await rowOf(row.id)).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(receiver.received).toHaveLength(4);
    });

    it('refuses a host name that resolves to the metadata address or a private range', async () => {
      const answers: Record<string, string> = {
        'metadata.attacker.example': '169.254.169.254',
        'internal.attacker.example': '10.1.2.3',
      };
      const resolve = async (host: string) => [{ address: answers[host], family: 4 }];
      const meta = await canceledCallEvent('https://metadata.attacker.example/x');
      const priv = await canceledCallEvent('https://internal.attacker.example/x');
      expect(await deliverer({ allowHttp: false, allowPrivate: false, resolve }).drainOnce()).toBe(2);
      expect(await rowOf(meta.id)).toMatchObject({ status: 'dead', attempts: 1 });
      expect((await rowOf(meta.id)).lastError).toMatch(/169\.254\.169\.254 is metadata/);
      expect(await rowOf(priv.id)).toMatchObject({ status: 'dead', attempts: 1 });
      expect((await rowOf(priv.id)).lastError).toMatch(/10\.1\.2\.3 is private/);

      // Metadata stays refused even where private targets are allowed.
      await t.db.delete(webhookDeliveries).where(eq(webhookDeliveries.id, priv.id));
      await redeliverWebhooks(t.db, { accountId, timeoutMs: 5000 });
      expect(await deliverer({ allowHttp: true, allowPrivate: true, resolve }).drainOnce()).toBe(1);
      const r = await rowOf(meta.id);
      expect(r).toMatchObject({ status: 'dead', attempts: 2 });
      expect(r.lastError).toMatch(/is metadata/);
    });

    it.skipIf(!hasOpenssl)('https goes through the checked lookup and verifies the certificate', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-tls-'));
      try {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=hook.test',
            '-addext',
            'subjectAltName=DNS:hook.test',
            '-keyout',
            path.join(dir, 'key.pem'),
            '-out',
            path.join(dir, 'cert.pem'),
          ],
          { stdio: 'ignore' },
        );
        let hits = 0;
        const server = https.createServer(
          {
            key: fs.readFileSync(path.join(dir, 'key.pem')),
            cert: fs.readFileSync(path.join(dir, 'cert.pem')),
          },
          (_req, res) => {
            hits++;
            res.end();
          },
        );
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
          const port = (server.address() as AddressInfo).port;
          const row = await canceledCallEvent(`https://hook.test:${port}/x`);
          const resolved: string[] = [];
          const resolve = async (host: string) => {
            resolved.push(host);
            return [{ address: '127.0.0.1', family: 4 }];
          };
          await deliverer({ allowHttp: false, allowPrivate: true, resolve }).drainOnce();
          const r = await rowOf(row.id);
          // The name was resolved by the guard, the TLS handshake happened, and the untrusted
          // self-signed certificate was refused: nothing was posted.
          expect(resolved).toContain('hook.test');
          expect(r).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
          expect(r.lastError).toMatch(/self[- ]signed/i);
          expect(hits).toBe(0);
        } finally {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('connects to the address the guard checked', async () => {
      // This name exists nowhere; the request can only reach the receiver through the checked answer.
      const row = await canceledCallEvent(`http://hook.invalid:${receiver.port}/via-name`);
      await deliverer({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] }).drainOnce();
      expect(await rowOf(row.id)).toMatchObject({ status: 'delivered' });
      expect(receiver.received.map((r) => [r.path, r.headers.host])).toEqual([
        ['/via-name', `hook.invalid:${receiver.port}`],
      ]);
    });
  });

  describe('redeliver', () => {
    it("moves an account's waiting deliveries to now, and leaves attempts in flight and other accounts alone", async () => {
      const now = new Date();
      const waiting = await canceledCallEvent();
      const inFlight = await canceledCallEvent();
      const dead = await canceledCallEvent();
      const svc = new AccountService(t.db, secrets);
      const other = (await svc.createAccount('other')).accountId;
      await svc.webhookSecret(other);
      const theirs = await canceledCallEvent(receiver.url, other);
      const at = (ms: number) => new Date(now.getTime() + ms);
      await t.db
        .update(webhookDeliveries)
        .set({ nextAttemptAt: at(3_600_000), attempts: 3 })
        .where(eq(webhookDeliveries.id, waiting.id));
      // A claim pushes next_attempt_at one lease ahead: such a row may be being sent right now.
      await t.db
        .update(webhookDeliveries)
        .set({ nextAttemptAt: at(leaseMs(5000)) })
        .where(eq(webhookDeliveries.id, inFlight.id));
      await t.db
        .update(webhookDeliveries)
        .set({ status: 'dead', attempts: 9 })
        .where(eq(webhookDeliveries.id, dead.id));
      await t.db
        .update(webhookDeliveries)
        .set({ nextAttemptAt: at(3_600_000) })
        .where(eq(webhookDeliveries.id, theirs.id));

      expect(await redeliverWebhooks(t.db, { accountId, timeoutMs: 5000, now })).toEqual({
        dead: 1,
        pending: 1,
        redelivered: 2,
      });
      expect(await rowOf(waiting.id)).toMatchObject({ status: 'pending', attempts: 3, nextAttemptAt: now });
      expect(await rowOf(dead.id)).toMatchObject({ status: 'pending', attempts: 9, nextAttemptAt: now });
      expect((await rowOf(inFlight.id)).nextAttemptAt).toEqual(at(leaseMs(5000)));
      expect((await rowOf(theirs.id)).nextAttemptAt).toEqual(at(3_600_000));

      // The deliverer sends exactly the two, once each, with their original eventIds.
      expect(await deliverer({ clock: () => now }).drainOnce()).toBe(2);
      expect(receiver.received.map((r) => r.headers['x-bys-event-id']).sort()).toEqual(
        [waiting.id, dead.id].sort(),
      );
    });

    it('can be limited to one call', async () => {
      const a = await canceledCallEvent();
      const b = await canceledCallEvent();
      await t.db.update(webhookDeliveries).set({ status: 'dead' });
      expect(await redeliverWebhooks(t.db, { accountId, callId: a.callId!, timeoutMs: 5000 })).toMatchObject({
        redelivered: 1,
      });
      expect((await rowOf(a.id)).status).toBe('pending');
      expect((await rowOf(b.id)).status).toBe('dead');
    });
  });

  it('stop() waits for the attempt in flight and records it', async () => {
    const row = await canceledCallEvent();
    receiver.reply(() => 'hang');
    const d = deliverer({ pollMs: 10, timeoutMs: 300 });
    d.start();
    await until(async () => receiver.received.length === 1);
    await d.stop();
    const r = await rowOf(row.id);
    expect(r).toMatchObject({ status: 'pending', attempts: 1 });
    expect(r.lastError).toMatch(/no response within 300 ms/);
  });

  it('stop() ends the polling loop', async () => {
    const d = deliverer({ pollMs: 10 });
    d.start();
    await d.stop();
    const row = await canceledCallEvent();
    // The loop runs only from a timer: a wake that schedules none, after a stop that waited for the
    // drains in flight, leaves nothing that could ever attempt the row (checked now, not after a wait).
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    d.wake();
    expect(timers()).toBe(before);
    expect(await rowOf(row.id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(receiver.received).toHaveLength(0);
  });
});

describe('defaultBackoff', () => {
  it('grows 5 s, 15 s, 45 s, … up to 1 h, with ±20 % jitter', () => {
    const nominal = [5, 15, 45, 135, 405, 1215, 3600, 3600, 3600].map((s) => s * 1000);
    nominal.forEach((ms, i) => {
      expect(defaultBackoff(i + 1, () => 0.5)).toBe(ms);
      expect(defaultBackoff(i + 1, () => 0)).toBe(Math.round(ms * 0.8));
      expect(defaultBackoff(i + 1, () => 1)).toBe(Math.round(ms * 1.2));
    });
  });
});

describe('retry schedule from the environment', () => {
  it('follows WEBHOOK_RETRY_FIRST_SECONDS, _FACTOR and _MAX_SECONDS, and defaults to 5 s × 3 up to 1 h', () => {
    const nominal = (env: Record<string, string>, attempts: number) => {
      const backoff = exponentialBackoff(webhookRetrySchedule(loadConfig(env)), () => 0.5);
      return Array.from({ length: attempts }, (_, i) => backoff(i + 1) / 1000);
    };
    expect(nominal({}, 8)).toEqual([5, 15, 45, 135, 405, 1215, 3600, 3600]);
    expect(
      nominal(
        { WEBHOOK_RETRY_FIRST_SECONDS: '1', WEBHOOK_RETRY_FACTOR: '2', WEBHOOK_RETRY_MAX_SECONDS: '10' },
        6,
      ),
    ).toEqual([1, 2, 4, 8, 10, 10]);
    expect(loadConfig({ WEBHOOK_POLL_MS: '250' }).WEBHOOK_POLL_MS).toBe(250);
    expect(() => loadConfig({ WEBHOOK_RETRY_FIRST_SECONDS: '60', WEBHOOK_RETRY_MAX_SECONDS: '30' })).toThrow(
      /WEBHOOK_RETRY_FIRST_SECONDS/,
    );
  });
});
