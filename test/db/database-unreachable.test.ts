import crypto from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { CallStore } from '../../src/calls/call-store.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

/** A loopback port nobody listens on: every connection to it is refused, as to a stopped server. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

// The API on a database that does not answer: what a client sees during an outage. (The restart
// test does this against a real cluster; this one needs no PostgreSQL binaries.)
describe('the API while the database is unreachable', () => {
  let api: TestApi;
  let dead: Database;

  beforeAll(async () => {
    dead = await openDatabase({
      url: `postgres://postgres@127.0.0.1:${await deadPort()}/x`,
      maxConnections: 2,
    });
    api = await startTestApi({
      tweak: (deps) => ({
        ...deps,
        db: dead.db,
        accounts: new AccountService(dead.db, SecretBox.fromKey(crypto.randomBytes(32).toString('hex'))),
        calls: new CallStore(dead.db, deps.config.publicBaseUrl),
      }),
    });
  });
  afterAll(async () => {
    await api?.close();
    await dead?.close();
  });

  it('answers 503 service_unavailable naming the database, with Retry-After, not a 500', async () => {
    for (const [pathname, init] of [
      ['/v1/agent/calls', {}],
      ['/v1/agent/calls/7b0e1a52-3d3c-4a39-9a4e-8f1f4b3c2d10', {}],
      [
        '/v1/agent/calls',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
        },
      ],
    ] as const) {
      const res = await api.request(pathname, init);
      const body = (await res.json()) as { error: { code: string; message: string; details: unknown } };
      expect(res.status, `${pathname}: ${JSON.stringify(body)}`).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(body.error.code).toBe('service_unavailable');
      expect(body.error.details).toEqual({ missing: [{ name: 'database', detail: expect.any(String) }] });
      // Nothing of the driver's error (host, port, stack) reaches the client.
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|\n\s+at /);
    }
  });

  it('/readyz says unavailable and lists the database once', async () => {
    const res = await fetch(`${api.url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as {
      missing: { name: string }[];
      checks: Record<string, { ok: boolean }>;
    };
    expect(body.missing.map((m) => m.name)).toEqual(['database']);
    expect(body.checks.database.ok).toBe(false);
  });
});
