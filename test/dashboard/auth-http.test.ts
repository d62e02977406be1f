import http from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DASHBOARD_BODY_BYTES } from '../../src/dashboard/auth/middleware.js';
import { accounts, users } from '../../src/db/schema.js';
import { startTestConsole } from './helpers/console.js';

// The dashboard's gate over plain HTTP: where the session middleware runs and where it never does,
// the security headers, CSRF for browsers and for scripts, the cookie's flags, next=, static assets.

/** A browser in miniature: keeps cookies, follows nothing, asks for HTML like a navigation. */
function browserish(base: string) {
  const jar = new Map<string, string>();
  const send = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('accept')) headers.set('accept', 'text/html,application/xhtml+xml');
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const value = pair.slice(i + 1);
      if (value === '' || /Max-Age=0/i.test(c)) jar.delete(pair.slice(0, i));
      else jar.set(pair.slice(0, i), value);
    }
    return res;
  };
  const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  const csrfOf = async (path: string) => {
    const html = await (await send(path)).text();
    const m = /name="_csrf" value="([^"]*)"/.exec(html);
    if (!m) throw new Error(`no CSRF field on ${path}`);
    return m[1];
  };
  const signIn = async (email: string, password: string, next = '/users') => {
    const _csrf = await csrfOf('/sign-in');
    return form('/sign-in', { _csrf, email, password, next });
  };
  return { jar, send, form, csrfOf, signIn };
}

/**
 * Starts a POST whose body is `declared` bytes long (null: chunked, no Content-Length), writes only
 * `write` bytes of it and waits for the answer: a refusal must come before the whole body is sent,
 * and everything written is read by then, so no unread data can reset the connection under the answer.
 */
function postBig(
  url: string,
  headers: Record<string, string>,
  declared: number | null,
  write: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/x-www-form-urlencoded',
        ...(declared === null ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(declared) }),
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.write('x'.repeat(write));
  });
}

describe('the dashboard gate over HTTP', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  beforeAll(async () => {
    con = await startTestConsole();
  });
  afterAll(async () => {
    await con?.close();
  });

  it('sends / to /sign-in, or to /calls once signed in', async () => {
    const b = browserish(con.url);
    expect((await b.send('/')).headers.get('location')).toBe('/sign-in');
    const signedIn = await b.signIn(con.owner.email, con.owner.password);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/users');
    expect((await b.send('/')).headers.get('location')).toBe('/calls');
  });

  it('puts its security headers on dashboard pages, and no cookie or session work on API paths', async () => {
    const res = await fetch(`${con.url}/sign-in`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("media-src 'self' blob:");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
    // The page has no inline script: everything it runs comes from /assets.
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);

    for (const path of ['/healthz', '/openapi.json', '/docs', '/v1/agent/calls', '/v1/nope']) {
      const r = await fetch(`${con.url}${path}`, { headers: { cookie: 'agentline_session=x' } });
      expect(r.headers.get('set-cookie'), path).toBeNull();
      expect(r.headers.get('content-security-policy'), path).toBeNull();
    }
    // A POST to the API is the API's business: no CSRF check there, its own 401.
    const api = await fetch(`${con.url}/v1/agent/calls`, { method: 'POST', body: '{}' });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('refuses a state-changing request without the CSRF token: HTML 403 for a browser, the JSON error for a script', async () => {
    const b = browserish(con.url);
    await b.signIn(con.owner.email, con.owner.password);
    const before = await con.db.select({ id: users.id }).from(users);

    const html = await b.form('/users', { email: 'nope1@example.test', role: 'viewer' });
    expect(html.status).toBe(403);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).toContain('Not allowed');

    const json = await b.send('/users', {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': 'nope' },
      body: JSON.stringify({ email: 'nope2@example.test' }),
    });
    expect(json.status).toBe(403);
    expect(await json.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });

    // The pre-session token does not stand in for the session's.
    const stale = await b.form('/users', {
      _csrf: b.jar.get('agentline_csrf') ?? '',
      email: 'nope3@example.test',
    });
    expect(stale.status).toBe(403);
    expect(await con.db.select({ id: users.id }).from(users)).toHaveLength(before.length);

    // The header works as well as the field (scripts' fetch).
    const token = await b.csrfOf('/users');
    const ok = await b.form(
      '/users',
      { email: 'header-ok@example.test', role: 'viewer' },
      { 'x-csrf-token': token },
    );
    expect(ok.status).toBe(201);
  });

  it('refuses an oversized form before reading it (413), declared or streamed', async () => {
    const b = browserish(con.url);
    await b.signIn(con.owner.email, con.owner.password);
    const token = await b.csrfOf('/users');
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers = { cookie, accept: 'application/json', 'x-csrf-token': token };
    // Declared too large: refused on the header, after a few bytes.
    const declared = await postBig(`${con.url}/users`, headers, MAX_DASHBOARD_BODY_BYTES + 1, 16);
    // Streamed: refused once the limit is passed, without waiting for the end.
    const streamed = await postBig(`${con.url}/users`, headers, null, MAX_DASHBOARD_BODY_BYTES + 16 * 1024);
    for (const res of [declared, streamed]) {
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe('payload_too_large');
    }
    expect(
      await con.db.select({ id: users.id }).from(users).where(eq(users.email, 'big@example.test')),
    ).toEqual([]);
  });

  it('keeps signed-in pages out of caches, and lets a stale sign-out through to the sign-in page', async () => {
    const b = browserish(con.url);
    await b.signIn(con.owner.email, con.owner.password);
    expect((await b.send('/users')).headers.get('cache-control')).toBe('no-store');

    // The session is gone (signed out in another tab); the old page's Sign out still lands on /sign-in.
    const oldToken = await b.csrfOf('/users');
    const first = await b.form('/sign-out', { _csrf: oldToken });
    expect(first.headers.get('location')).toBe('/sign-in');
    b.jar.set('agentline_session', 'stale-token');
    const stale = await b.form('/sign-out', { _csrf: oldToken });
    expect(stale.status).toBe(303);
    expect(stale.headers.get('location')).toBe('/sign-in');
    expect(b.jar.has('agentline_session')).toBe(false);
  });

  it('gives a new session token at each sign-in and ends the one the browser had (no fixation)', async () => {
    const b = browserish(con.url);
    await b.signIn(con.owner.email, con.owner.password);
    const first = b.jar.get('agentline_session')!;
    // Signed in already (or a cookie planted by someone else): posting the form again replaces it.
    const _csrf = await b.csrfOf('/users');
    const again = await b.form('/sign-in', { _csrf, email: con.owner.email, password: con.owner.password });
    expect(again.status).toBe(303);
    const second = b.jar.get('agentline_session')!;
    expect(second).not.toBe(first);
    const old = await fetch(`${con.url}/users`, {
      headers: { cookie: `agentline_session=${first}` },
      redirect: 'manual',
    });
    expect(old.status).toBe(302);
  });

  it('refuses a sign-in form without its pre-session token (login CSRF)', async () => {
    const b = browserish(con.url);
    const res = await b.form('/sign-in', { email: con.owner.email, password: con.owner.password });
    expect(res.status).toBe(403);
    expect(b.jar.has('agentline_session')).toBe(false);
  });

  it('sets the session cookie HttpOnly, SameSite=Lax, Path=/, and Secure when the site is https', async () => {
    const plain = browserish(con.url);
    const r1 = await plain.signIn(con.owner.email, con.owner.password);
    const c1 = r1.headers.getSetCookie().find((c) => c.startsWith('agentline_session=')) ?? '';
    expect(c1).toMatch(/HttpOnly/);
    expect(c1).toMatch(/SameSite=Lax/);
    expect(c1).toMatch(/Path=\//);
    expect(c1).not.toMatch(/Secure/);

    const https = await startTestConsole({ env: { PUBLIC_BASE_URL: 'https://console.example.test' } });
    try {
      const b = browserish(https.url);
      const r2 = await b.signIn(https.owner.email, https.owner.password);
      const c2 = r2.headers.getSetCookie().find((c) => c.startsWith('agentline_session=')) ?? '';
      expect(c2).toMatch(/; Secure/);
    } finally {
      await https.close();
    }
  });

  it('sends a signed-in user only to local paths after sign-in', async () => {
    for (const [next, expected] of [
      ['/calls?status=completed', '/calls?status=completed'],
      ['https://evil.example/', '/calls'],
      ['//evil.example/', '/calls'],
      ['/\\evil.example', '/calls'],
    ]) {
      const b = browserish(con.url);
      const res = await b.signIn(con.owner.email, con.owner.password, next);
      expect(res.headers.get('location'), next).toBe(expected);
    }
    const b = browserish(con.url);
    const page = await (await b.send('/sign-in?next=%2F%2Fevil.example')).text();
    expect(page).toContain('name="next" value="/calls"');
  });

  it('ends a session when the account is disabled, and sends the browser to sign in again', async () => {
    const other = await con.api.addAccount('soon disabled');
    const u = await con.addUser({ accountId: other.accountId, role: 'owner' });
    const b = browserish(con.url);
    await b.signIn(u.email, u.password);
    expect((await b.send('/users')).status).toBe(200);
    await con.db.update(accounts).set({ disabledAt: new Date() }).where(eq(accounts.id, other.accountId));
    const after = await b.send('/users');
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toBe('/sign-in?next=%2Fusers');
    const again = await b.signIn(u.email, u.password);
    expect(again.status).toBe(403);
    expect(await again.text()).toContain('disabled');
  });

  it('serves /assets with content types, revalidation and long caching of versioned URLs; nothing outside', async () => {
    const page = await (await fetch(`${con.url}/sign-in`)).text();
    const href = /href="(\/assets\/app\.css\?v=[^"]+)"/.exec(page)?.[1];
    expect(href).toBeTruthy();
    const css = await fetch(`${con.url}${href}`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toContain('immutable');
    expect(css.headers.get('x-content-type-options')).toBe('nosniff');
    const bare = await fetch(`${con.url}/assets/app.css`);
    expect(bare.headers.get('cache-control')).toBe('no-cache');
    const etag = bare.headers.get('etag')!;
    const revalidated = await fetch(`${con.url}/assets/app.css`, { headers: { 'if-none-match': etag } });
    expect(revalidated.status).toBe(304);

    for (const path of [
      '/assets/nope.css',
      '/assets/..%2F..%2Fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/.hidden.css',
      '/assets/../index.ts',
      '/assets/',
    ]) {
      const r = await fetch(`${con.url}${path}`);
      expect(r.status, path).toBe(404);
      const body = await r.text();
      expect(body, path).not.toContain('"name": "agentline"');
    }
    const unknown = await fetch(`${con.url}/assets/nope.css`);
    expect(unknown.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('answers an unknown page with the HTML 404 for a browser and the JSON one for a client', async () => {
    const html = await fetch(`${con.url}/no-such-page`, { headers: { accept: 'text/html' } });
    expect(html.status).toBe(404);
    expect(await html.text()).toContain('Not found');
    const json = await fetch(`${con.url}/no-such-page`);
    expect(json.status).toBe(404);
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
