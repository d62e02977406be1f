import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { CallStore } from '../../src/calls/call-store.js';
import { calls, webhookDeliveries } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { jsonOf, runAgentline } from './run-agentline.js';

// The CLI and this test share the database, which needs PostgreSQL (the embedded one is one process's).
describe.skipIf(!process.env.DATABASE_URL)('agentline webhooks redeliver', { timeout: 120_000 }, () => {
  let tdb: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  let accountId: string;
  let otherId: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-webhooks-cli-'));
    env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent', DATABASE_URL: tdb.url! };
    const svc = new AccountService(tdb.db, SecretBox.load({ dataDir }));
    accountId = (await svc.createAccount('acme')).accountId;
    otherId = (await svc.createAccount('other')).accountId;
  });
  afterAll(async () => {
    await tdb.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** A canceled call's terminal event, in the outbox as the store writes it, then marked dead. */
  async function deadEvent(account: string): Promise<{ id: string; callId: string }> {
    const [c] = await tdb.db
      .insert(calls)
      .values({
        accountId: account,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Ask.',
        language: 'en-US',
        webhookUrl: 'https://hooks.example.com/x',
      })
      .returning();
    await new CallStore(tdb.db, 'https://agentline.example').transition(c.id, 'failed', {
      reason: 'canceled',
    });
    const [row] = await tdb.db
      .update(webhookDeliveries)
      .set({ status: 'dead', lastError: 'receiver answered 500' })
      .where(eq(webhookDeliveries.callId, c.id))
      .returning();
    return { id: row.id, callId: c.id };
  }
  const statusOf = async (id: string) =>
    (await tdb.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0].status;

  it("makes the account's dead deliveries due again, one call or all, and no other account's", async () => {
    const first = await deadEvent(accountId);
    const second = await deadEvent(accountId);
    const theirs = await deadEvent(otherId);

    const one = await runAgentline(
      ['webhooks', 'redeliver', '--account', accountId, '--call', first.callId, '--json'],
      env,
    );
    expect(one.code, one.stderr).toBe(0);
    expect(jsonOf(one)).toEqual({ accountId, callId: first.callId, dead: 1, pending: 0, redelivered: 1 });
    expect(await statusOf(first.id)).toBe('pending');
    expect(await statusOf(second.id)).toBe('dead');

    const all = await runAgentline(['webhooks', 'redeliver', '--account', accountId], env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain('1 webhook event(s) due now (1 dead, 0 waiting for a retry)');
    expect(await statusOf(second.id)).toBe('pending');
    expect(await statusOf(theirs.id)).toBe('dead');
  });

  it('names what is wrong: an unknown account, a malformed call id, a missing action', async () => {
    const unknown = await runAgentline(
      ['webhooks', 'redeliver', '--account', '00000000-0000-4000-8000-000000000000'],
      env,
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no account');
    const badCall = await runAgentline(['webhooks', 'redeliver', '--account', accountId, '--call', 'x'], env);
    expect(badCall.code).toBe(2);
    expect(badCall.stderr).toContain('--call must be a call id');
    const none = await runAgentline(['webhooks'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('redeliver');
  });
});
