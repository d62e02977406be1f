import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/dashboard/auth/cookies.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { buildSnippets } from '../../src/dashboard/developers/snippets.js';
import { apiKeys, calls, phoneNumbers } from '../../src/db/schema.js';
import { signWebhook, verifyWebhook } from '../../src/webhooks/signature.js';
import { startTestApi, TEST_CALLER_ID, type TestApi } from '../helpers/api-fixtures.js';

// The Developers page over plain HTTP: each action's effect in the database, CSRF on every one, the
// owner-only rule, the audit lines (without secrets) and snippets that run against this deployment.

let api: TestApi;
let owner: Session;
let viewer: Session;
const logLines: Record<string, any>[] = [];

interface Session {
  cookie: string;
  csrf: string;
}

async function signedIn(accountId: string, role: 'owner' | 'viewer', email: string): Promise<Session> {
  const user = await createUser(api.db.db, { accountId, email, role });
  const s = await createSession(api.db.db, user.id, new Date());
  return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: s.csrfToken };
}

beforeAll(async () => {
  api = await startTestApi({
    env: { PUBLIC_BASE_URL: 'https://calls.example.test' },
    tweak: (deps) => ({
      ...deps,
      logger: pino({ level: 'info' }, { write: (s: string) => logLines.push(JSON.parse(s)) }),
    }),
  });
  owner = await signedIn(api.accountId, 'owner', 'owner@example.com');
  viewer = await signedIn(api.accountId, 'viewer', 'viewer@example.com');
});
afterAll(async () => {
  await api?.close();
});

function post(
  who: Session,
  path: string,
  fields: Record<string, string> = {},
  csrf: string | null = who.csrf,
) {
  return fetch(`${api.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: who.cookie },
    body: new URLSearchParams({ ...(csrf === null ? {} : { _csrf: csrf }), ...fields }),
  });
}

function get(who: Session, path = '/developers') {
  return fetch(`${api.url}${path}`, {
    headers: { cookie: who.cookie, accept: 'text/html' },
    redirect: 'manual',
  });
}

/** Follows a POST's 303 with the same session, as a browser does, and answers the page. */
async function followed(res: Response, who: Session): Promise<string> {
  expect(res.status).toBe(303);
  const flash = res.headers.getSetCookie().map((c) => c.split(';')[0]);
  const page = await fetch(`${api.url}${res.headers.get('location')}`, {
    headers: { cookie: [who.cookie, ...flash].join('; '), accept: 'text/html' },
  });
  expect(page.status).toBe(200);
  return page.text();
}

function between(html: string, attr: string): string {
  const m = new RegExp(`<code[^>]*${attr}[^>]*>([^<]+)</code>`).exec(html);
  if (!m) throw new Error(`no ${attr} in the page`);
  return m[1];
}

const keysOf = (accountId: string) =>
  api.db.db.select().from(apiKeys).where(eq(apiKeys.accountId, accountId));
const numbersOf = (accountId: string) =>
  api.db.db.select().from(phoneNumbers).where(eq(phoneNumbers.accountId, accountId));

describe('who may use /developers', () => {
  it('a viewer gets 403 on the page and on every action, and nothing changes', async () => {
    expect((await get(viewer)).status).toBe(403);
    const keysBefore = await keysOf(api.accountId);
    for (const path of [
      '/developers/keys',
      '/developers/numbers',
      '/developers/webhook-secret/reveal',
      '/developers/webhook-secret/rotate',
    ]) {
      const res = await post(viewer, path, { number: '+14155550188', confirm: 'yes' });
      expect(res.status, path).toBe(403);
      expect(await res.text(), path).not.toContain('whsec_');
    }
    expect(await keysOf(api.accountId)).toEqual(keysBefore);
    expect((await numbersOf(api.accountId)).map((n) => n.number)).toEqual([TEST_CALLER_ID]);
  });

  it('every action refuses a post without the CSRF token', async () => {
    const keysBefore = (await keysOf(api.accountId)).length;
    for (const path of [
      '/developers/keys',
      '/developers/numbers',
      '/developers/numbers/remove',
      '/developers/webhook-secret/reveal',
      '/developers/webhook-secret/rotate',
    ]) {
      const res = await post(owner, path, { number: TEST_CALLER_ID, confirm: 'yes' }, null);
      expect(res.status, path).toBe(403);
      expect(await res.text(), path).not.toContain('whsec_');
    }
    expect((await keysOf(api.accountId)).length).toBe(keysBefore);
    expect((await numbersOf(api.accountId)).map((n) => n.number)).toEqual([TEST_CALLER_ID]);
  });
});

describe('agent keys', () => {
  it('mints a key shown once that works against the API; the list shows its prefix, never the key; revoke → 401', async () => {
    const res = await post(owner, '/developers/keys');
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const key = between(await res.text(), 'data-new-key');
    expect(key).toMatch(/^ak_/);
    const [row] = (await keysOf(api.accountId)).filter((k) => key.startsWith(k.prefix) && k.id);
    expect(row.keyHash).not.toContain(key);

    const works = await api.request('/v1/agent/calls', { key });
    expect(works.status).toBe(200);

    // A later view lists it by prefix with its last use, and never shows the key again.
    const page = await (await get(owner)).text();
    expect(page).not.toContain(key);
    expect(page).toContain(`data-key-prefix="${row.prefix}"`);
    expect(logLines.some((l) => l.audit === 'api_key.minted' && l.keyPrefix === row.prefix)).toBe(true);
    expect(JSON.stringify(logLines)).not.toContain(key);

    const revoked = await followed(await post(owner, '/developers/keys/revoke', { keyId: row.id }), owner);
    expect(revoked).toContain('The key is revoked');
    const [after] = await api.db.db.select().from(apiKeys).where(eq(apiKeys.id, row.id));
    expect(after.revokedAt).not.toBeNull();
    expect((await api.request('/v1/agent/calls', { key })).status).toBe(401);
    // The fixture's own key still works: only that one was revoked.
    expect((await api.request('/v1/agent/calls')).status).toBe(200);
  });

  it("cannot revoke another account's key, or a malformed id", async () => {
    const other = await api.addAccount('other');
    const [otherKey] = await keysOf(other.accountId);
    const page = await followed(await post(owner, '/developers/keys/revoke', { keyId: otherKey.id }), owner);
    expect(page).toContain('No live key of this account has that id.');
    expect((await api.request('/v1/agent/calls', { key: other.key })).status).toBe(200);
    const bad = await followed(await post(owner, '/developers/keys/revoke', { keyId: "1' or 1=1" }), owner);
    expect(bad).toContain('No live key of this account has that id.');
  });
});

describe('phone numbers', () => {
  it('adds a number validated as the CLI does, keeps the value on a refusal, sets the default and removes', async () => {
    // Not E.164: the guardrail's message, at the field, with the typed value kept.
    const bad = await post(owner, '/developers/numbers', { number: '415 555 0101' });
    expect(bad.status).toBe(422);
    const html = await bad.text();
    expect(html).toContain('The number must be an E.164 number: &#39;+&#39; followed by 8 to 15 digits');
    expect(html).toMatch(
      /<input[^>]*name="number"[^>]*value="415 555 0101"[^>]*aria-invalid="true"|<input[^>]*value="415 555 0101"[^>]*name="number"/,
    );
    const invalid = await post(owner, '/developers/numbers', { number: '+19995550101' });
    expect(await invalid.text()).toContain('is not a valid phone number in its country&#39;s numbering plan');

    const added = await followed(
      await post(owner, '/developers/numbers', { number: ' +14155550111 ' }),
      owner,
    );
    expect(added).toContain('Added +14155550111.');
    let rows = await numbersOf(api.accountId);
    expect(rows.map((r) => [r.number, r.isDefault]).sort()).toEqual([
      [TEST_CALLER_ID, true],
      ['+14155550111', false],
    ]);

    const dup = await post(owner, '/developers/numbers', { number: '+14155550111' });
    expect(await dup.text()).toContain('+14155550111 is already a number of this account.');
    await api.addAccount('holder', '+14155550122');
    const taken = await post(owner, '/developers/numbers', { number: '+14155550122' });
    expect(taken.status).toBe(422);
    expect(await taken.text()).toContain('+14155550122 is registered to another account on this deployment.');

    await followed(await post(owner, '/developers/numbers/default', { number: '+14155550111' }), owner);
    rows = await numbersOf(api.accountId);
    expect(rows.find((r) => r.isDefault)?.number).toBe('+14155550111');
    // A call without callerId now goes out from the new default.
    const placed = await api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: '+14155552671', objective: 'Ask about opening hours.' }),
    });
    const { callId } = (await placed.json()) as { callId: string };
    const [call] = await api.db.db.select().from(calls).where(eq(calls.id, callId));
    expect(call.callerId).toBe('+14155550111');

    // Removing the default moves the default to the remaining number.
    const removed = await followed(
      await post(owner, '/developers/numbers/remove', { number: '+14155550111' }),
      owner,
    );
    expect(removed).toContain(`Removed +14155550111. ${TEST_CALLER_ID} is now the default caller ID.`);
    rows = await numbersOf(api.accountId);
    expect(rows.map((r) => [r.number, r.isDefault])).toEqual([[TEST_CALLER_ID, true]]);

    // Another account's number is neither removed nor made default from here.
    const notOurs = await followed(
      await post(owner, '/developers/numbers/remove', { number: '+14155550122' }),
      owner,
    );
    expect(notOurs).toContain('That number is not a number of this account.');
    await followed(await post(owner, '/developers/numbers/default', { number: '+14155550122' }), owner);
    const held = await api.db.db.select().from(phoneNumbers).where(eq(phoneNumbers.number, '+14155550122'));
    expect(held).toHaveLength(1);
    expect(held[0].accountId).not.toBe(api.accountId);
    expect(logLines.filter((l) => l.audit?.startsWith('number.')).map((l) => l.audit)).toEqual([
      'number.added',
      'number.default_set',
      'number.removed',
    ]);
  });
});

describe('webhook secret', () => {
  const BODY = '{"event":"call.completed","callId":"c1"}';
  const now = () => Math.floor(Date.now() / 1000);

  it('is hidden on the page; Reveal shows the secret that signs webhooks and logs an audit line without it', async () => {
    const page = await (await get(owner)).text();
    const secret = await api.accounts.webhookSecret(api.accountId);
    expect(secret).toMatch(/^whsec_/);
    expect(page).not.toContain(secret!);

    const res = await post(owner, '/developers/webhook-secret/reveal');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const shown = between(await res.text(), 'data-webhook-secret');
    expect(shown).toBe(secret);
    const line = logLines.find((l) => l.audit === 'webhook_secret.revealed');
    expect(line).toMatchObject({ accountId: api.accountId, userId: expect.any(String) });
    expect(JSON.stringify(logLines)).not.toContain(secret!);
    // The revealed secret verifies what is signed with the account's stored one (as the deliverer does).
    const header = signWebhook(BODY, (await api.accounts.webhookSecret(api.accountId))!, now());
    expect(verifyWebhook(BODY, header, shown)).toBe(true);
  });

  it('Rotate asks first, then shows the new secret once; the old one no longer matches', async () => {
    const old = await api.accounts.webhookSecret(api.accountId);
    const ask = await post(owner, '/developers/webhook-secret/rotate');
    expect(ask.status).toBe(200);
    expect(await ask.text()).toContain('Yes, rotate it');
    expect(await api.accounts.webhookSecret(api.accountId)).toBe(old);

    const res = await post(owner, '/developers/webhook-secret/rotate', { confirm: 'yes' });
    expect(res.status).toBe(200);
    const fresh = between(await res.text(), 'data-webhook-secret');
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(old);
    expect(await api.accounts.webhookSecret(api.accountId)).toBe(fresh);
    expect(logLines.some((l) => l.audit === 'webhook_secret.rotated')).toBe(true);
    expect(JSON.stringify(logLines)).not.toContain(fresh);
    const header = signWebhook(BODY, (await api.accounts.webhookSecret(api.accountId))!, now());
    expect(verifyWebhook(BODY, header, fresh)).toBe(true);
    expect(verifyWebhook(BODY, header, old!)).toBe(false);
    // A GET afterwards does not show it again.
    expect(await (await get(owner)).text()).not.toContain(fresh);
  });
});

describe('snippets', () => {
  it('name this deployment (PUBLIC_BASE_URL) and carry no key', async () => {
    const page = await (await get(owner)).text();
    for (const id of ['curl', 'python', 'node', 'mcp-stdio', 'mcp-http'])
      expect(page).toContain(`id="snippet-${id}"`);
    expect(page).toContain('https://calls.example.test/v1/agent/calls');
    expect(page).toContain('&quot;AGENTLINE_BASE_URL&quot;: &quot;https://calls.example.test&quot;');
    expect(page).toContain('https://calls.example.test/mcp');
    expect(page).not.toMatch(/ak_[A-Za-z0-9_-]{20,}/);
  });

  it('the curl, Python and Node snippets place a call on the running API as they are', async () => {
    const snippets = Object.fromEntries(buildSnippets(api.url).map((s) => [s.id, s.code]));
    const env = { ...process.env, AGENTLINE_API_KEY: api.key };
    const example = and(
      eq(calls.accountId, api.accountId),
      eq(calls.objective, 'Book a table for two tomorrow at 7 pm'),
    );
    const before = (await api.db.db.select().from(calls).where(example)).length;

    // Run asynchronously: the API answers from this very process.
    const run = promisify(execFile);
    const curl = await run('bash', ['-c', snippets.curl.split('\n').slice(0, 2).join('\n')], { env });
    expect(JSON.parse(curl.stdout)).toMatchObject({ status: 'queued' });

    const py = await run('python3', ['-c', snippets.python], { env: { ...env, PYTHONPATH: 'sdk/python' } });
    expect(py.stdout).toMatch(/^[0-9a-f-]{36} queued\n$/);

    const nodeCode = snippets.node.replace("'agentline-client'", `'${process.cwd()}/sdk/node/agentline.js'`);
    const node = await run(process.execPath, ['--input-type=module', '-e', nodeCode], { env });
    expect(node.stdout).toMatch(/^[0-9a-f-]{36} queued\n$/);

    const after = await api.db.db.select().from(calls).where(example);
    expect(after.length - before).toBe(3);
  });
});
