import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { CallStore } from '../../src/calls/call-store.js';
import { calls, webhookAttempts, webhookDeliveries } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import {
  createWebhookDeliverer,
  MAX_ATTEMPTS_KEPT,
  RESPONSE_EXCERPT_CHARS,
  type WebhookDeliverer,
  type WebhookDelivererDeps,
} from '../../src/webhooks/deliverer.js';
import { redeliverWebhooks } from '../../src/webhooks/redeliver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type Receiver, startReceiver } from './receiver.js';

const secrets = SecretBox.fromKey('0'.repeat(64));

describe('webhook attempt history', () => {
  let t: TestDatabase;
  let store: CallStore;
  let accountId: string;
  let receiver: Receiver;
  const deliverers: WebhookDeliverer[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example');
    ({ accountId } = await new AccountService(t.db, secrets).createAccount('acme'));
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await Promise.all(deliverers.splice(0).map((d) => d.stop()));
    await receiver.close();
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

  /** A canceled call's one webhook event, waiting in the outbox. */
  async function event(webhookUrl = receiver.url) {
    const [c] = await t.db
      .insert(calls)
      .values({
        accountId,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Book a table for two at 7pm',
        language: 'en-US',
        webhookUrl,
      })
      .returning();
    expect((await store.transition(c.id, 'failed', { reason: 'canceled' })).ok).toBe(true);
    const [row] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, c.id));
    return row;
  }

  const attemptsOf = (deliveryId: string) =>
    t.db
      .select()
      .from(webhookAttempts)
      .where(eq(webhookAttempts.deliveryId, deliveryId))
      .orderBy(asc(webhookAttempts.attempt));
  const deliveryOf = async (id: string) =>
    (await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0];

  it('keeps each try with its status and the start of the answer: a 500 with a body, then a 200', async () => {
    const row = await event();
    receiver.reply((n) =>
      n === 0
        ? { status: 500, body: 'database is down, try later' }
        : { status: 200, body: '{"received":true}' },
    );
    const d = deliverer();
    expect(await d.drainOnce()).toBe(1);
    expect(await d.drainOnce()).toBe(1);

    expect(await deliveryOf(row.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    const tries = await attemptsOf(row.id);
    expect(tries).toHaveLength(2);
    expect(tries[0]).toMatchObject({
      attempt: 1,
      statusCode: 500,
      error: 'receiver answered 500',
      responseExcerpt: 'database is down, try later',
    });
    expect(tries[1]).toMatchObject({
      attempt: 2,
      statusCode: 200,
      error: null,
      responseExcerpt: '{"received":true}',
    });
    expect(tries[0].attemptedAt.getTime()).toBeLessThanOrEqual(tries[1].attemptedAt.getTime());
    for (const a of tries) expect(a.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('a receiver that is down leaves an attempt with the error in words and no status', async () => {
    // A port that was just free: nothing listens on it.
    const down = http.createServer();
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const port = (down.address() as AddressInfo).port;
    await new Promise<void>((resolve) => down.close(() => resolve()));

    const row = await event(`http://127.0.0.1:${port}/hooks`);
    expect(await deliverer().drainOnce()).toBe(1);
    const tries = await attemptsOf(row.id);
    expect(tries).toHaveLength(1);
    expect(tries[0]).toMatchObject({ attempt: 1, statusCode: null, responseExcerpt: null });
    expect(tries[0].error).toMatch(/ECONNREFUSED/);
    expect(await deliveryOf(row.id)).toMatchObject({ status: 'pending', attempts: 1 });
  });

  it('keeps only the first 512 characters of a long answer, never cutting a character', async () => {
    const row = await event();
    // Two- and four-byte characters, so a cut by bytes would show as a broken character or a wrong length.
    const long = 'é😀<b>'.repeat(400);
    receiver.reply(() => ({ status: 503, body: long }));
    await deliverer().drainOnce();
    const [a] = await attemptsOf(row.id);
    expect(Array.from(a.responseExcerpt ?? '')).toHaveLength(RESPONSE_EXCERPT_CHARS);
    expect(long.startsWith(a.responseExcerpt ?? '-')).toBe(true);
  });

  it('reads only the start of an answer that never ends, and the delivery is done', async () => {
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const endless = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const more = () => {
        res.write('x'.repeat(1024));
        timer = setTimeout(more, 5);
      };
      more();
      res.on('close', () => {
        closed = true;
        clearTimeout(timer);
      });
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const row = await event(`http://127.0.0.1:${(endless.address() as AddressInfo).port}/hooks`);
      // Far longer than the test may run: the attempt ends because the deliverer stops reading.
      await deliverer({ timeoutMs: 600_000 }).drainOnce();
      expect(await deliveryOf(row.id)).toMatchObject({ status: 'delivered', attempts: 1 });
      const [a] = await attemptsOf(row.id);
      expect(a).toMatchObject({ statusCode: 200, responseExcerpt: 'x'.repeat(RESPONSE_EXCERPT_CHARS) });
      for (;;) {
        if (closed) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      clearTimeout(timer);
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  });

  it('a redelivery continues the numbering of a dead event', async () => {
    const row = await event();
    receiver.reply((n) => (n === 0 ? { status: 500, body: 'nope' } : { status: 204, body: '' }));
    // A window already over: the first failure is final.
    await deliverer({ retryHours: 0 }).drainOnce();
    expect(await deliveryOf(row.id)).toMatchObject({ status: 'dead', attempts: 1 });

    expect((await redeliverWebhooks(t.db, { accountId, timeoutMs: 5000 })).dead).toBe(1);
    await deliverer().drainOnce();
    const tries = await attemptsOf(row.id);
    expect(tries.map((a) => [a.attempt, a.statusCode, a.responseExcerpt])).toEqual([
      [1, 500, 'nope'],
      [2, 204, null],
    ]);
    expect(await deliveryOf(row.id)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it(`keeps the newest ${MAX_ATTEMPTS_KEPT} attempts of an event that is retried for days`, async () => {
    const row = await event();
    const earlier = MAX_ATTEMPTS_KEPT + 5;
    await t.db.update(webhookDeliveries).set({ attempts: earlier }).where(eq(webhookDeliveries.id, row.id));
    await t.db.insert(webhookAttempts).values(
      Array.from({ length: earlier }, (_, i) => ({
        deliveryId: row.id,
        attempt: i + 1,
        durationMs: 10,
        statusCode: 500,
        error: 'receiver answered 500',
      })),
    );
    receiver.reply(() => 200);
    await deliverer().drainOnce();
    const tries = await attemptsOf(row.id);
    expect(tries).toHaveLength(MAX_ATTEMPTS_KEPT);
    expect(tries[0].attempt).toBe(earlier + 2 - MAX_ATTEMPTS_KEPT);
    expect(tries.at(-1)).toMatchObject({ attempt: earlier + 1, statusCode: 200 });
  });

  it('the count and the history change together: a failed write of the attempt leaves neither', async () => {
    const row = await event();
    // Stands in for a crash between the two writes: the attempt's insert fails.
    await t.db.execute(sql`
      create function refuse_attempt() returns trigger language plpgsql as $$
      begin raise exception 'attempt refused by the test'; end $$`);
    await t.db.execute(sql`
      create trigger refuse_attempt before insert on webhook_attempts
      for each row execute function refuse_attempt()`);
    try {
      await deliverer().drainOnce();
      expect(receiver.received).toHaveLength(1);
      expect(await deliveryOf(row.id)).toMatchObject({
        status: 'pending',
        attempts: 0,
        lastStatusCode: null,
      });
      expect(await attemptsOf(row.id)).toHaveLength(0);
    } finally {
      await t.db.execute(sql`drop trigger refuse_attempt on webhook_attempts`);
      await t.db.execute(sql`drop function refuse_attempt()`);
    }
    // Once the lease is over the event is sent again, and that try is attempt 1.
    await t.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date() })
      .where(eq(webhookDeliveries.id, row.id));
    await deliverer().drainOnce();
    expect((await attemptsOf(row.id)).map((a) => a.attempt)).toEqual([1]);
    expect(await deliveryOf(row.id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('attempts go with their delivery', async () => {
    const row = await event();
    await deliverer().drainOnce();
    expect(await attemptsOf(row.id)).toHaveLength(1);
    await t.db.delete(calls).where(eq(calls.id, row.callId!));
    expect(await attemptsOf(row.id)).toHaveLength(0);
  });
});
