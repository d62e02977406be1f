import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// A write the database refuses must leave a log line an operator can act on (request id, the error,
// its SQLSTATE) that holds none of the caller's data: drizzle writes the query parameters into its
// message and PostgreSQL's `detail` repeats the whole failing row.

const lines: string[] = [];
let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({
    tweak: (deps) => ({ ...deps, logger: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }) }),
  });
  // A real refusal by the real database, for one objective only.
  await api.db.db.execute(
    sql.raw(`alter table calls add constraint refuse_marked check (objective not like '%REFUSE-ME%')`),
  );
});
afterAll(async () => {
  await api?.close();
});

describe('the 500 log line', () => {
  it('names the request and the database error, not the objective, context or metadata', async () => {
    const res = await api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({
        to: TEST_DESTINATION,
        objective: 'REFUSE-ME objective-secret-4711',
        context: 'context-secret-4712',
        metadata: { note: 'metadata-secret-4713' },
      }),
    });
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('internal_error');

    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
    expect(logged).toBeDefined();
    expect(logged.requestId).toBe(requestId);
    expect(logged.err.stack).toMatch(/\n\s+at /);
    // The constraint's SQLSTATE and name survive, so the operator knows what refused the row.
    expect(JSON.stringify(logged.err)).toContain('refuse_marked');
    expect(JSON.stringify(logged.err)).toContain('23514');

    const all = lines.join('\n');
    for (const secret of ['objective-secret-4711', 'context-secret-4712', 'metadata-secret-4713']) {
      expect(all).not.toContain(secret);
    }
    expect(all).not.toContain(api.key);
  });
});
