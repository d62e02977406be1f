import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: any } };
  return body.error;
}

const place = (key?: string | null) =>
  api.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask.' }),
    key,
  });

describe('authentication', () => {
  it.each([
    ['missing', null, undefined],
    ['not Bearer', null, { authorization: `Basic dXNlcjpwYXNz` }],
    ['malformed key', 'sk_live_abc', undefined],
    ['unknown key', `ak_${'A'.repeat(43)}`, undefined],
  ])('answers 401 unauthorized for a %s key', async (_n, key, headers) => {
    const res = await api.request('/v1/agent/calls', { key, headers });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('unauthorized');
  });

  it('answers 401 for a revoked key, and accepts the live one', async () => {
    const extra = await api.accounts.createApiKey(api.accountId);
    expect((await api.request('/v1/agent/calls', { key: extra.key })).status).toBe(200);
    expect(await api.accounts.revokeApiKeys(extra.prefix)).toBe(1);
    const res = await api.request('/v1/agent/calls', { key: extra.key });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('unauthorized');
  });

  it('records when a key was last used', async () => {
    const extra = await api.accounts.createApiKey(api.accountId);
    const before = await api.db.db.select().from(apiKeys).where(eq(apiKeys.id, extra.keyId));
    expect(before[0].lastUsedAt).toBeNull();
    await api.request('/v1/agent/calls', { key: extra.key });
    const after = await api.db.db.select().from(apiKeys).where(eq(apiKeys.id, extra.keyId));
    expect(after[0].lastUsedAt).toBeInstanceOf(Date);
  });
});

describe('account isolation', () => {
  it("hides another account's calls: read, cancel, recording are 404 and the list is empty", async () => {
    const other = await api.addAccount('other', '+14155550188');
    const res = await place(other.key);
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };

    for (const [method, path] of [
      ['GET', `/v1/agent/calls/${callId}`],
      ['POST', `/v1/agent/calls/${callId}/cancel`],
      ['GET', `/v1/agent/calls/${callId}/recording`],
    ]) {
      const r = await api.request(path, { method });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect((await errorOf(r)).code).toBe('not_found');
    }
    const list = (await (await api.request('/v1/agent/calls?limit=100')).json()) as {
      calls: { callId: string }[];
    };
    expect(list.calls.map((c) => c.callId)).not.toContain(callId);
    // The owner still sees it, still queued.
    const own = await api.request(`/v1/agent/calls/${callId}`, { key: other.key });
    expect(own.status).toBe(200);
    expect(((await own.json()) as { status: string }).status).toBe('queued');
  });

  it('answers 404 not_found for a malformed or unknown call id', async () => {
    for (const id of ['nope', '00000000-0000-4000-8000-000000000000']) {
      const r = await api.request(`/v1/agent/calls/${id}`);
      expect(r.status).toBe(404);
      expect((await errorOf(r)).code).toBe('not_found');
    }
  });
});

describe('errors and service routes', () => {
  it('answers 404 not_found in the error shape for an unknown route', async () => {
    const r = await api.request('/v1/agent/nothing-here');
    expect(r.status).toBe(404);
    const err = await errorOf(r);
    expect(err.code).toBe('not_found');
    expect(err.message).toContain('/v1/agent/nothing-here');
    const outside = await fetch(`${api.url}/nope`);
    expect(outside.status).toBe(404);
    expect((await errorOf(outside)).code).toBe('not_found');
  });

  it('GET /healthz is ok without a key', async () => {
    const r = await fetch(`${api.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz reports the database check', async () => {
    const r = await fetch(`${api.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      status: 'ready',
      canPlaceCalls: true,
      checks: { database: { ok: true } },
      missing: [],
      // No worker in this test: nobody says how many calls the deployment carries.
      capacity: { workers: 0, liveCalls: 0, capacity: null, full: false },
    });
  });

  it('serves an OpenAPI 3.1 document with every route, its errors and bearer security', async () => {
    const r = await fetch(`${api.url}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('agentline');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/readyz',
        '/v1/agent/batches',
        '/v1/agent/batches/{id}',
        '/v1/agent/batches/{id}/cancel',
        '/v1/agent/batches/{id}/pause',
        '/v1/agent/batches/{id}/results.csv',
        '/v1/agent/batches/{id}/resume',
        '/v1/agent/do-not-call',
        '/v1/agent/do-not-call/{number}',
        '/v1/agent/calls',
        '/v1/agent/calls/{id}',
        '/v1/agent/calls/{id}/cancel',
        '/v1/agent/calls/{id}/events',
        '/v1/agent/calls/{id}/recording',
        '/v1/agent/events',
        '/v1/agent/settings',
        '/v1/agent/webhooks/redeliver',
        '/v1/admin/accounts',
        '/v1/admin/accounts/{accountId}',
        '/v1/admin/accounts/{accountId}/caps',
        '/v1/admin/accounts/{accountId}/disable',
        '/v1/admin/accounts/{accountId}/enable',
        '/v1/admin/keys',
        '/v1/admin/keys/{keyId}/revoke',
      ].sort(),
    );
    const create = doc.paths['/v1/agent/calls'].post;
    expect(Object.keys(create.responses).sort()).toEqual(
      ['201', '400', '401', '409', '413', '422', '429', '500', '503'].sort(),
    );
    expect(create.security).toEqual([{ bearerAuth: [] }]);
    const body = doc.components.schemas.PlaceCallRequest;
    expect(body.required.sort()).toEqual(['objective', 'to']);
    expect(body.properties.objective.maxLength).toBe(2000);
    expect(doc.paths['/v1/agent/calls/{id}/cancel'].post.responses['409']).toBeDefined();
  });

  it('describes every operation for generated clients and linters', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as any;
    expect(doc.info.license).toEqual({ name: 'Apache-2.0', identifier: 'Apache-2.0' });
    const ops = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.entries(item as Record<string, any>).map(([method, op]) => ({ p, method, op })),
    );
    const ids = ops.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // The probes take no key, and say so; every operation documents a 4XX.
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/readyz'].get.security).toEqual([]);
    for (const { p, op } of ops) {
      expect(
        Object.keys(op.responses).some((s) => s.startsWith('4')),
        p,
      ).toBe(true);
    }
    // The 416 of the recording route answers a code the Error schema must list.
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain(
      'range_not_satisfiable',
    );
    const body = doc.components.schemas.PlaceCallRequest.properties;
    expect(body.objective.minLength).toBe(1);
    expect(new RegExp(body.to.pattern).test('+14155552671')).toBe(true);
    expect(new RegExp(body.to.pattern).test('4155552671')).toBe(false);
    expect(body.metadata.description).toContain('32 levels');
    // Swagger UI's "Try it out" fills a parameter's example or default in: the list must not filter.
    const status = doc.paths['/v1/agent/calls'].get.parameters.find((x: any) => x.name === 'status');
    expect(status.example ?? status.schema.example ?? status.schema.default).toBeUndefined();
  });

  it('sends GET / to the dashboard (its sign-in page when signed out); the reference stays at /docs', async () => {
    const r = await fetch(`${api.url}/`, { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/sign-in');
  });

  it('serves the interactive reference at /docs', async () => {
    const r = await fetch(`${api.url}/docs`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    const page = await r.text();
    expect(page).toContain('/openapi.json');
    // Everything the page loads comes from this server: it must work on a network without internet.
    const srcs = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs.length).toBeGreaterThan(0);
    for (const s of srcs) {
      expect(s.startsWith('/')).toBe(true);
      const asset = await fetch(`${api.url}${s}`);
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });
});

describe('unexpected failures', () => {
  it('answers 500 internal_error with a request id and no stack trace', async () => {
    const lines: string[] = [];
    const broken = await startTestApi({
      db: api.db,
      tweak: (deps) => ({
        ...deps,
        logger: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }),
        readiness: {
          report: async () => {
            throw new TypeError('boom at secret/place.ts:12');
          },
        } as unknown as typeof deps.readiness,
      }),
    });
    try {
      const res = await broken.request('/v1/agent/calls', {
        method: 'POST',
        body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask.' }),
      });
      expect(res.status).toBe(500);
      const requestId = res.headers.get('x-request-id');
      expect(requestId).toBeTruthy();
      const text = await res.text();
      expect(text).not.toContain('boom');
      expect(text).not.toContain('.ts:');
      const err = JSON.parse(text).error;
      expect(err.code).toBe('internal_error');
      expect(err.message).toContain(requestId);
      // The operator finds the cause by the same id; the key never reaches the log.
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
      expect(logged.requestId).toBe(requestId);
      expect(logged.err.message).toContain('boom');
      expect(lines.join('\n')).not.toContain(broken.key);
    } finally {
      await broken.close();
    }
  });
});

describe('readiness', () => {
  it('answers 503 service_unavailable naming what is missing, and stores no call', async () => {
    const down = await startTestApi({
      db: api.db,
      checks: [
        { name: 'pbx', requiredForCalls: true, check: () => ({ ok: false, detail: 'no ARI connection' }) },
        { name: 'recordings', requiredForCalls: false, check: () => ({ ok: true }) },
      ],
    });
    try {
      const res = await down.request('/v1/agent/calls', {
        method: 'POST',
        body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask.' }),
      });
      expect(res.status).toBe(503);
      const err = await errorOf(res);
      expect(err.code).toBe('service_unavailable');
      expect(err.details).toEqual({ missing: [{ name: 'pbx', detail: 'no ARI connection' }] });
      const list = (await (await down.request('/v1/agent/calls')).json()) as { calls: unknown[] };
      expect(list.calls).toEqual([]);

      const ready = await fetch(`${down.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: 'unavailable',
        canPlaceCalls: false,
        checks: { database: { ok: true }, pbx: { ok: false }, recordings: { ok: true } },
      });
    } finally {
      await down.close();
    }
  });

  it('reports an optional failing check as degraded (200)', async () => {
    const degraded = await startTestApi({
      db: api.db,
      checks: [{ name: 'gpu', requiredForCalls: false, check: () => ({ ok: false, detail: 'no GPU' }) }],
    });
    try {
      const r = await fetch(`${degraded.url}/readyz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ status: 'degraded', canPlaceCalls: true });
    } finally {
      await degraded.close();
    }
  });
});
