import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/dashboard/auth/cookies.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { accounts, apiKeys, calls } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// The admin pages over plain HTTP: only instance admins, each form's effect through the same service as
// the admin API (caps the next POST /v1/agent/calls obeys, disable/enable, key revocation), CSRF, and
// validation messages at the fields.

let api: TestApi;
let admin: Session;
let owner: Session;
let other: { accountId: string; key: string };

interface Session {
  cookie: string;
  csrf: string;
}

async function signedIn(
  accountId: string,
  email: string,
  role: 'owner' | 'viewer',
  instanceAdmin = false,
): Promise<Session> {
  const { user } = await createUser(api.db.db, { accountId, email, role, instanceAdmin });
  const s = await createSession(api.db.db, user.id, new Date());
  return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: s.csrfToken };
}

beforeAll(async () => {
  api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '1000' } });
  admin = await signedIn(api.accountId, 'admin@example.com', 'owner', true);
  owner = await signedIn(api.accountId, 'owner@example.com', 'owner');
  other = await api.addAccount('Other Co', '+14155550123');
});
afterAll(async () => {
  await api?.close();
});

const get = (who: Session, path: string) =>
  fetch(`${api.url}${path}`, { headers: { cookie: who.cookie, accept: 'text/html' }, redirect: 'manual' });

const post = (
  who: Session,
  path: string,
  fields: Record<string, string> = {},
  csrf: string | null = who.csrf,
) =>
  fetch(`${api.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: who.cookie },
    body: new URLSearchParams({ ...(csrf === null ? {} : { _csrf: csrf }), ...fields }),
  });

async function followed(res: Response, who: Session): Promise<string> {
  expect(res.status).toBe(303);
  const flash = res.headers.getSetCookie().map((c) => c.split(';')[0]);
  const page = await fetch(`${api.url}${res.headers.get('location')}`, {
    headers: { cookie: [who.cookie, ...flash].join('; '), accept: 'text/html' },
  });
  expect(page.status).toBe(200);
  return page.text();
}

const place = (key: string) =>
  api.request('/v1/agent/calls', {
    key,
    method: 'POST',
    body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
  });

const caps = (fields: Partial<Record<string, string>> = {}) => ({
  callsPerMinute: '',
  concurrentCalls: '',
  callsPerDay: '',
  minutesPerMonth: '',
  ...fields,
});

describe('admin pages', () => {
  it('are for instance admins only: an owner gets 403, nobody signed in goes to sign-in', async () => {
    for (const path of ['/admin', `/admin/accounts/${other.accountId}`]) {
      const res = await get(owner, path);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('Not allowed');
    }
    const posted = await post(
      owner,
      `/admin/accounts/${other.accountId}/caps`,
      caps({ concurrentCalls: '0' }),
    );
    expect(posted.status).toBe(403);
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, other.accountId));
    expect(row.capConcurrentCalls).toBeNull();

    const anon = await fetch(`${api.url}/admin`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(anon.status).toBe(302);
    expect(anon.headers.get('location')).toMatch(/^\/sign-in\?next=%2Fadmin/);

    const ownerNav = await (await get(owner, '/settings')).text();
    expect(ownerNav).not.toContain('href="/admin"');
    const adminNav = await (await get(admin, '/settings')).text();
    expect(adminNav).toContain('href="/admin"');
  });

  it('lists every account with its usage and state', async () => {
    const res = await get(admin, '/admin');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`href="/admin/accounts/${api.accountId}"`);
    expect(html).toContain(`href="/admin/accounts/${other.accountId}"`);
    expect(html).toContain('Other Co');
    expect(html).toMatch(/0 \/ 500/);
  });

  it('sets a cap that the next POST /v1/agent/calls obeys, then clears it to the default', async () => {
    const saved = await post(
      admin,
      `/admin/accounts/${other.accountId}/caps`,
      caps({ concurrentCalls: '0' }),
    );
    const page = await followed(saved, admin);
    expect(page).toContain('Saved the caps of Other Co.');
    const refused = await place(other.key);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).error.details).toMatchObject({
      cap: 'concurrent_calls',
      limit: 0,
    });

    await followed(await post(admin, `/admin/accounts/${other.accountId}/caps`, caps()), admin);
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, other.accountId));
    expect(row.capConcurrentCalls).toBeNull();
    expect((await place(other.key)).status).toBe(201);
  });

  it('shows validation messages at the fields and saves nothing', async () => {
    const res = await post(
      admin,
      `/admin/accounts/${other.accountId}/caps`,
      caps({ callsPerDay: 'lots', concurrentCalls: '3', minutesPerMonth: '100000001' }),
    );
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toMatch(
      /id="field-callsPerDay-error"[^>]*>Calls per day \(UTC\) must be a whole number, or &quot;default&quot;\./,
    );
    expect(html).toMatch(/id="field-minutesPerMonth-error"[^>]*>[^<]*must be between 0 and 100000000/);
    expect(html).toMatch(
      /id="field-callsPerDay"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="field-callsPerDay"/,
    );
    // What was typed comes back.
    expect(html).toContain('value="lots"');
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, other.accountId));
    expect(row.capConcurrentCalls).toBeNull();
  });

  it('refuses a form without the CSRF token', async () => {
    const res = await post(
      admin,
      `/admin/accounts/${other.accountId}/caps`,
      caps({ concurrentCalls: '0' }),
      null,
    );
    expect(res.status).toBe(403);
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, other.accountId));
    expect(row.capConcurrentCalls).toBeNull();
  });

  it('disables an account with a reason (keys 401, queued calls failed) and enables it again', async () => {
    const queued = (await (await place(other.key)).json()) as { callId: string };

    const blank = await post(admin, `/admin/accounts/${other.accountId}/disable`, { reason: '  ' });
    expect(blank.status).toBe(400);
    expect(await blank.text()).toContain('Reason is required.');

    const page = await followed(
      await post(admin, `/admin/accounts/${other.accountId}/disable`, { reason: 'Fraud check' }),
      admin,
    );
    expect(page).toMatch(/Disabled Other Co: \d+ queued call\(s\) failed/);
    expect(page).toContain('data-account-state="disabled"');
    expect(page).toContain('Fraud check');
    const [call] = await api.db.db.select().from(calls).where(eq(calls.id, queued.callId));
    expect(call).toMatchObject({ status: 'failed', endedReason: 'account_disabled' });
    const refused = await place(other.key);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as any).error.message).toContain('disabled');

    const back = await followed(await post(admin, `/admin/accounts/${other.accountId}/enable`), admin);
    expect(back).toContain('Enabled Other Co.');
    expect((await place(other.key)).status).toBe(201);
  });

  it("lists the account's keys and revokes one", async () => {
    const [key] = await api.db.db.select().from(apiKeys).where(eq(apiKeys.accountId, other.accountId));
    const html = await (await get(admin, `/admin/accounts/${other.accountId}`)).text();
    expect(html).toContain(`data-key-prefix="${key.prefix}"`);
    // A key of another account cannot be revoked through this account's page.
    const [mine] = await api.db.db.select().from(apiKeys).where(eq(apiKeys.accountId, api.accountId));
    const cross = await post(admin, `/admin/accounts/${other.accountId}/keys/${mine.id}/revoke`);
    expect(cross.status).toBe(404);

    const page = await followed(
      await post(admin, `/admin/accounts/${other.accountId}/keys/${key.id}/revoke`),
      admin,
    );
    expect(page).toContain(`Revoked key ${key.prefix}.`);
    expect((await api.request('/v1/agent/calls', { key: other.key })).status).toBe(401);
    expect((await api.request('/v1/agent/calls')).status).toBe(200);
  });

  it('does not let an admin disable their own account from the page', async () => {
    const page = await (await get(admin, `/admin/accounts/${api.accountId}`)).text();
    expect(page).not.toContain('Disable account');
    const res = await followed(
      await post(admin, `/admin/accounts/${api.accountId}/disable`, { reason: 'oops' }),
      admin,
    );
    expect(res).toContain('You cannot disable your own account here');
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, api.accountId));
    expect(row.disabledAt).toBeNull();
  });

  it('answers 404 for an unknown account', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await get(admin, `/admin/accounts/${id}`);
      expect(res.status).toBe(404);
    }
  });
});
