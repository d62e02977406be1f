import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStackConsole } from './helpers/console.js';

// The console helper's full stack (startAgentline role all) serves the dashboard: its seeded users sign
// in with their passwords, roles hold, and the seeded key reaches the API of the same account.

async function signIn(base: string, email: string, password: string): Promise<string> {
  const page = await fetch(`${base}/sign-in`);
  const preSession = page.headers
    .getSetCookie()
    .find((c) => c.startsWith('agentline_csrf='))!
    .split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1];
  const res = await fetch(`${base}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: preSession, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ _csrf: csrf, email, password, next: '/users' }),
  });
  expect(res.status, await res.clone().text()).toBe(303);
  return res.headers
    .getSetCookie()
    .find((c) => c.startsWith('agentline_session='))!
    .split(';')[0];
}

describe('startStackConsole: the whole product with seeded users', { timeout: 180_000 }, () => {
  let stack: Awaited<ReturnType<typeof startStackConsole>>;
  beforeAll(async () => {
    stack = await startStackConsole({ users: [{ role: 'viewer' }] });
  }, 180_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  it('signs the owner and the viewer in; each sees what the role allows', async () => {
    const owner = await signIn(stack.url, stack.owner.email, stack.owner.password);
    const ownerPage = await fetch(`${stack.url}/users`, { headers: { cookie: owner } });
    expect(ownerPage.status).toBe(200);
    const html = await ownerPage.text();
    expect(html).toContain(stack.owner.email);
    expect(html).toContain(stack.users[0].email);

    const viewer = await signIn(stack.url, stack.users[0].email, stack.users[0].password);
    expect((await fetch(`${stack.url}/users`, { headers: { cookie: viewer } })).status).toBe(403);

    const calls = await fetch(`${stack.url}/v1/agent/calls`, {
      headers: { authorization: `Bearer ${stack.key}` },
    });
    expect(calls.status).toBe(200);
  });
});
