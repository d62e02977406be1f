import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

/** POST /v1/agent/calls applies the deliverer's SSRF rules to webhookUrl before storing anything. */
describe('webhookUrl at POST time', () => {
  let strict: TestApi;
  let open: TestApi;
  beforeAll(async () => {
    strict = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '1000' } });
    open = await startTestApi({
      db: strict.db,
      env: { CAP_CALLS_PER_MINUTE: '1000', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
  });
  afterAll(async () => {
    await open.close();
    await strict.close();
  });

  const place = (api: TestApi, webhookUrl: string) =>
    api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask.', webhookUrl }),
    });

  it.each([
    'https://localhost./hook',
    'https://api.localhost./hook',
    'https://LOCALHOST/hook',
    'https://[::127.0.0.1]/hook',
    'https://[::ffff:7f00:1]/hook',
    'https://[::ffff:0:a00:1]/hook',
    'https://[::a9fe:a9fe]/hook',
    'https://printer.local./hook',
  ])('refuses %s with 400 naming webhookUrl', async (url) => {
    const res = await place(strict, url);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as {
      error: { code: string; details: { fields: { field: string }[] } };
    };
    expect(error.code).toBe('invalid_request');
    expect(error.details.fields.map((f) => f.field)).toEqual(['webhookUrl']);
  });

  it('accepts a public host, and private hosts only where the deployment allows them', async () => {
    expect((await place(strict, 'https://hooks.example.com/x')).status).toBe(201);
    expect((await place(open, 'http://localhost./hook')).status).toBe(201);
    // Metadata stays refused even then, as at send time.
    expect((await place(open, 'http://[::ffff:169.254.169.254]/x')).status).toBe(400);
  });
});
