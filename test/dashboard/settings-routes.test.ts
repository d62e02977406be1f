import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/dashboard/auth/cookies.js';
import { CSRF_FIELD } from '../../src/dashboard/auth/csrf.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { engineRows } from '../../src/dashboard/pages/settings.js';
import { accounts } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// /settings over plain HTTP: every role reads its account's caps (defaults marked) and usage, and the
// readiness report's engines and PBX link exactly as /readyz has them.

let api: TestApi;
let pbxUp = true;
const ENGINES =
  'stt: pocketsphinx (en-us, 16 kHz), tts: flite (cmu_us_slt), vad: silero v5, dialogue: llama-cpp (model.gguf, 2 threads, 1 while replying)';

beforeAll(async () => {
  api = await startTestApi({
    env: { CAP_CALLS_PER_DAY: '77' },
    checks: [
      { name: 'engines', requiredForCalls: true, check: () => ({ ok: true, detail: ENGINES }) },
      {
        name: 'pbx',
        requiredForCalls: true,
        check: () =>
          pbxUp
            ? { ok: true, detail: 'connected to ARI at http://127.0.0.1:8088 (app agentline)' }
            : { ok: false, detail: 'no ARI events connection to http://127.0.0.1:8088' },
      },
    ],
  });
});
afterAll(async () => {
  await api?.close();
});

async function viewerSession(accountId: string, email: string) {
  const { user } = await createUser(api.db.db, { accountId, email, role: 'viewer' });
  const s = await createSession(api.db.db, user.id, new Date());
  return `${SESSION_COOKIE}=${s.token}`;
}

const page = async (cookie: string) => {
  const res = await fetch(`${api.url}/settings`, {
    headers: { cookie, accept: 'text/html' },
    redirect: 'manual',
  });
  expect(res.status).toBe(200);
  return res.text();
};

describe('/settings', () => {
  it('shows a viewer the caps with defaults marked, and usage against them', async () => {
    await api.db.db.update(accounts).set({ capConcurrentCalls: 3 }).where(eq(accounts.id, api.accountId));
    expect(
      (
        await api.request('/v1/agent/calls', {
          method: 'POST',
          body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
        })
      ).status,
    ).toBe(201);
    const html = await page(await viewerSession(api.accountId, 'viewer@example.com'));
    const row = (cap: string) => new RegExp(`<tr data-cap="${cap}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
    expect(row('callsPerDay')).toContain('data-cap-default');
    expect(row('callsPerDay')).toMatch(/1 of 77 today/);
    expect(row('concurrentCalls')).not.toContain('data-cap-default');
    expect(row('concurrentCalls')).toContain('this account');
    expect(row('concurrentCalls')).toMatch(/1 of 3 active now/);
    expect(row('callsPerMinute')).toMatch(/1 of 10 in the last minute/);
    expect(row('minutesPerMonth')).toMatch(/0 of 10000 this month/);
    // Editing is the instance admin's, not a viewer's.
    expect(html).not.toContain('/admin/accounts/');
  });

  it('lists the engines and the PBX link as the readiness report has them', async () => {
    const cookie = await viewerSession(api.accountId, 'viewer2@example.com');
    let html = await page(cookie);
    expect(html).toMatch(/data-engine-kind="stt"[\s\S]*?pocketsphinx \(en-us, 16 kHz\)/);
    expect(html).toMatch(
      /data-engine-kind="dialogue"[\s\S]*?llama-cpp \(model.gguf, 2 threads, 1 while replying\)/,
    );
    expect(html).toContain('data-pbx-state="connected"');
    expect(html).toContain('connected to ARI at http://127.0.0.1:8088');
    expect(html).toContain('data-can-place="yes"');

    pbxUp = false;
    try {
      html = await page(cookie);
      expect(html).toContain('data-pbx-state="disconnected"');
      expect(html).toContain('data-can-place="no"');
    } finally {
      pbxUp = true;
    }
  });

  it("shows only the signed-in user's own account", async () => {
    const other = await api.addAccount('Elsewhere Ltd', '+14155550144');
    const html = await page(await viewerSession(other.accountId, 'else@example.com'));
    expect(html).toContain('Caps and usage of Elsewhere Ltd');
    expect(html).not.toContain('Caps and usage of test');
  });

  it('sends nobody signed in to the sign-in page', async () => {
    const res = await fetch(`${api.url}/settings`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/sign-in/);
  });
});

describe('/settings calling defaults', () => {
  async function session(role: 'owner' | 'viewer', email: string) {
    const { user } = await createUser(api.db.db, { accountId: api.accountId, email, role });
    const s = await createSession(api.db.db, user.id, new Date());
    return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: s.csrfToken };
  }
  const post = (
    who: { cookie: string; csrf: string },
    pairs: [string, string][],
    csrf: string | null = who.csrf,
  ) =>
    fetch(`${api.url}/settings/calling-defaults`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        cookie: who.cookie,
      },
      body: new URLSearchParams([
        ...(csrf === null ? [] : [[CSRF_FIELD, csrf] as [string, string]]),
        ...pairs,
      ]),
    });
  const apiSettings = async () => {
    const res = await api.request('/v1/agent/settings');
    expect(res.status).toBe(200);
    return (await res.json()) as { callWindow: unknown; retryPolicy: unknown };
  };
  const reset = () => api.db.db.update(accounts).set({ callWindow: null, retryPolicy: null });
  const weekdays: [string, string][] = ['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => ['callWindow.days', d]);

  it('lets an owner set and clear them, and the API reads what the form saved', async () => {
    await reset();
    const owner = await session('owner', 'defaults-owner@example.com');
    const res = await post(owner, [
      ['_choices', '1'],
      ['callWindow.start', '10:00'],
      ['callWindow.end', '18:30'],
      ...weekdays,
      ['retryPolicy.maxAttempts', '3'],
      ['retryPolicy.delaySeconds', '900'],
      ['retryPolicy.on', 'no_answer'],
      ['retryPolicy.on', 'voicemail'],
    ]);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/settings#calling-defaults');
    expect(await apiSettings()).toMatchObject({
      callWindow: { start: '10:00', end: '18:30', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
      retryPolicy: { maxAttempts: 3, delaySeconds: 900, on: ['no_answer', 'voicemail'] },
    });
    // The flash and the saved values on the page the browser is sent to.
    const flash = res.headers.getSetCookie().map((c) => c.split(';')[0]);
    const html = await page([owner.cookie, ...flash].join('; '));
    expect(html).toContain('Saved the calling defaults.');
    expect(html).toMatch(
      /data-default-window[^>]*>10:00–18:30, Monday, Tuesday, Wednesday, Thursday, Friday</,
    );
    expect(html).toMatch(
      /name="callWindow.start"[^>]*value="10:00"|value="10:00"[^>]*name="callWindow.start"/,
    );

    // Empty hours and numbers clear both, as null does in PATCH.
    const cleared = await post(owner, [['_choices', '1'], ...weekdays, ['retryPolicy.on', 'no_answer']]);
    expect(cleared.status).toBe(303);
    expect(await apiSettings()).toMatchObject({ callWindow: null, retryPolicy: null });
  });

  it("shows the API's own message at the field of a bad window, and saves nothing", async () => {
    await reset();
    const owner = await session('owner', 'defaults-bad@example.com');
    const pairs: [string, string][] = [
      ['_choices', '1'],
      ['callWindow.start', '25:00'],
      ['callWindow.end', '18:00'],
      ['retryPolicy.maxAttempts', '3'],
      ['retryPolicy.delaySeconds', '900'],
      ['retryPolicy.on', 'no_answer'],
    ];
    const res = await post(owner, pairs);
    expect(res.status).toBe(400);
    const html = await res.text();
    // What PATCH /v1/agent/settings answers for the same values (no days ticked: none posted).
    const apiRes = await api.request('/v1/agent/settings', {
      method: 'PATCH',
      body: JSON.stringify({
        callWindow: { start: '25:00', end: '18:00', days: [] },
        retryPolicy: { maxAttempts: 3, delaySeconds: 900, on: ['no_answer'] },
      }),
    });
    expect(apiRes.status).toBe(400);
    const { error } = (await apiRes.json()) as {
      error: { details: { fields: { field: string; message: string }[] } };
    };
    const start = error.details.fields.find((f) => f.field === 'callWindow.start');
    const days = error.details.fields.find((f) => f.field === 'callWindow.days');
    expect(start?.message).toMatch(/HH:MM/);
    expect(days?.message).toBe('must name at least one day');
    const at = (id: string) =>
      new RegExp(`<p class="field-error" id="${id}-error">([^<]*)</p>`).exec(html)?.[1];
    expect(at('field-callWindow-start')).toBe(`callWindow.start ${start?.message}`.replaceAll('"', '&quot;'));
    expect(at('field-callWindow-days')).toBe('callWindow.days must name at least one day');
    expect(at('field-callWindow-end')).toBeUndefined();
    expect(html).toMatch(/id="field-callWindow-start"[^>]*aria-invalid="true"/);
    // The form comes back as typed.
    expect(html).toMatch(/value="25:00"/);
    expect(await apiSettings()).toMatchObject({ callWindow: null, retryPolicy: null });
  });

  it('shows a viewer the values without a form, and refuses a viewer who posts', async () => {
    await api.db.db
      .update(accounts)
      .set({ callWindow: { start: '08:00', end: '12:00', days: ['sat'] } })
      .where(eq(accounts.id, api.accountId));
    const viewer = await session('viewer', 'defaults-viewer@example.com');
    const html = await page(viewer.cookie);
    expect(html).toMatch(/data-default-window[^>]*>08:00–12:00, Saturday</);
    expect(html).toContain('data-defaults-read-only');
    expect(html).not.toContain('action="/settings/calling-defaults"');
    const res = await post(viewer, [
      ['callWindow.start', '09:00'],
      ['callWindow.end', '17:00'],
    ]);
    expect(res.status).toBe(403);
    expect(await apiSettings()).toMatchObject({
      callWindow: { start: '08:00', end: '12:00', days: ['sat'] },
    });
  });

  it('refuses a post without the CSRF token, and changes nothing', async () => {
    await reset();
    const owner = await session('owner', 'defaults-csrf@example.com');
    for (const csrf of [null, 'not-the-token']) {
      const res = await post(
        owner,
        [
          ['callWindow.start', '09:00'],
          ['callWindow.end', '17:00'],
        ],
        csrf,
      );
      expect(res.status, String(csrf)).toBe(403);
    }
    expect(await apiSettings()).toMatchObject({ callWindow: null, retryPolicy: null });
  });
});

describe('engineRows', () => {
  it('splits the engines detail by part, keeping commas inside a model description', () => {
    expect(engineRows(ENGINES)).toEqual([
      { kind: 'stt', engine: 'pocketsphinx (en-us, 16 kHz)' },
      { kind: 'tts', engine: 'flite (cmu_us_slt)' },
      { kind: 'vad', engine: 'silero v5' },
      { kind: 'dialogue', engine: 'llama-cpp (model.gguf, 2 threads, 1 while replying)' },
    ]);
    expect(engineRows(undefined)).toEqual([]);
  });
});
