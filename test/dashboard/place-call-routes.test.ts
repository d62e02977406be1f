import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { SESSION_COOKIE } from '../../src/dashboard/auth/cookies.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { mapApiError, readPlaceCallForm, wallTimeToInstant } from '../../src/dashboard/pages/place-call.js';
import { accounts, calls } from '../../src/db/schema.js';
import { startTestApi, TEST_CALLER_ID, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// The Place a call form over plain HTTP (no browser): the same schema and call service as the API,
// so a refusal shows the API's own messages at the field its `details` names.

let api: TestApi;
let owner: { cookie: string; csrf: string };
let viewer: { cookie: string; csrf: string };

async function signedIn(role: 'owner' | 'viewer', email: string) {
  const user = await createUser(api.db.db, { accountId: api.accountId, email, role });
  const s = await createSession(api.db.db, user.id, new Date());
  return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: s.csrfToken };
}

beforeAll(async () => {
  api = await startTestApi();
  owner = await signedIn('owner', 'owner@example.com');
  viewer = await signedIn('viewer', 'viewer@example.com');
});
afterAll(async () => {
  await api?.close();
});

function post(
  who: { cookie: string; csrf: string } | null,
  fields: Record<string, string>,
  csrf = who?.csrf,
) {
  const body = new URLSearchParams({ ...(csrf ? { _csrf: csrf } : {}), ...fields });
  return fetch(`${api.url}/calls/new`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/html',
      ...(who ? { cookie: who.cookie } : {}),
    },
    body,
  });
}

/** The input named `name` in the page, as one tag. */
function inputTag(html: string, name: string): string {
  const m = new RegExp(`<(?:input|textarea|select)[^>]*name="${name.replace(/[[\].]/g, '\\$&')}"[^>]*>`).exec(
    html,
  );
  if (!m) throw new Error(`no input ${name}`);
  return m[0];
}

function errorText(html: string, id: string): string | null {
  const m = new RegExp(`<p class="field-error" id="${id}-error">([^<]*)</p>`).exec(html);
  return m
    ? m[1]
        .replace(/&#39;/g, "'")
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&')
    : null;
}

async function callsOfAccount() {
  return api.db.db.select().from(calls).where(eq(calls.accountId, api.accountId));
}

async function apiError(body: Record<string, unknown>) {
  const res = await api.request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(body) });
  return (await res.json()) as { error: { code: string; message: string; details?: any } };
}

describe('GET /calls/new', () => {
  it('shows an owner the form with every API field and the account numbers as caller IDs', async () => {
    const res = await fetch(`${api.url}/calls/new`, { headers: { cookie: owner.cookie } });
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const name of [
      'to',
      'callerId',
      'objective',
      'context',
      'fields[0].name',
      'fields[0].type',
      'fields[0].description',
      'language',
      'voice',
      'maxDurationSeconds',
      'voicemail.action',
      'voicemail.message',
      'transfer.to',
      'transfer.mode',
      'transfer.when',
      'callWindow.start',
      'callWindow.end',
      'callWindow.days',
      'timeZone',
      'startAt',
      'expiresAt',
      'retry.maxAttempts',
      'retry.delaySeconds',
      'retry.on',
      'webhookUrl',
      'metadata',
      'idempotencyKey',
      '_csrf',
    ]) {
      expect(() => inputTag(html, name)).not.toThrow();
    }
    expect(html).toContain(`<option value="${TEST_CALLER_ID}">`);
    expect(html).toContain(`Account default (${TEST_CALLER_ID})`);
    // Every visible input has a label pointing at it.
    for (const m of html.matchAll(/<(?:input|textarea|select)[^>]*id="([^"]+)"/g)) {
      expect(html, m[1]).toContain(`for="${m[1]}"`);
    }
  });

  it('is an owner action: a viewer gets 403 on the form and on a post, and no call is stored', async () => {
    expect((await fetch(`${api.url}/calls/new`, { headers: { cookie: viewer.cookie } })).status).toBe(403);
    const res = await post(viewer, { to: TEST_DESTINATION, objective: 'Ask about opening hours.' });
    expect(res.status).toBe(403);
    expect(await callsOfAccount()).toEqual([]);
  });

  it('sends someone signed out to sign in', async () => {
    const res = await fetch(`${api.url}/calls/new`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/sign-in\?next=%2Fcalls%2Fnew/);
  });
});

describe('POST /calls/new', () => {
  it('refuses a post without the CSRF token and places nothing', async () => {
    const res = await post(owner, { to: TEST_DESTINATION, objective: 'Ask about opening hours.' }, '');
    expect(res.status).toBe(403);
    const wrong = await post(
      owner,
      { to: TEST_DESTINATION, objective: 'Ask about opening hours.' },
      'x'.repeat(43),
    );
    expect(wrong.status).toBe(403);
    expect(await callsOfAccount()).toEqual([]);
  });

  it('places the call with every field and redirects to its page; the stored call is what the API would store', async () => {
    const res = await post(owner, {
      to: ` ${TEST_DESTINATION} `,
      callerId: TEST_CALLER_ID,
      objective: 'Book a table for two at 7 pm.',
      context: 'Dana prefers a window seat.',
      'fields[0].name': 'booked',
      'fields[0].type': 'boolean',
      'fields[0].description': 'whether a table was booked',
      'fields[1].name': '',
      'fields[1].type': 'string',
      'fields[1].description': '',
      'fields[2].name': 'time',
      'fields[2].type': 'string',
      'fields[2].description': '',
      language: 'en-gb',
      maxDurationSeconds: '120',
      'voicemail.action': 'leave_message',
      'voicemail.message': 'Please call Dana back.',
      'transfer.to': '+14155550120',
      'transfer.mode': 'warm',
      'transfer.when': 'they want a person',
      metadata: '{"crm": {"id": 42}}',
    });
    expect(res.status).toBe(303);
    const location = res.headers.get('location') ?? '';
    expect(location).toMatch(/^\/calls\/[0-9a-f-]{36}$/);
    const id = location.slice('/calls/'.length);
    const [call] = await api.db.db.select().from(calls).where(eq(calls.id, id));
    expect(call).toMatchObject({
      accountId: api.accountId,
      status: 'queued',
      toNumber: TEST_DESTINATION,
      callerId: TEST_CALLER_ID,
      objective: 'Book a table for two at 7 pm.',
      context: 'Dana prefers a window seat.',
      fields: [
        { name: 'booked', type: 'boolean', description: 'whether a table was booked' },
        { name: 'time', type: 'string' },
      ],
      language: 'en-GB',
      maxDurationSeconds: 120,
      voicemail: { action: 'leave_message', message: 'Please call Dana back.' },
      transfer: { to: '+14155550120', mode: 'warm', when: 'they want a person' },
      metadata: { crm: { id: 42 } },
      webhookUrl: null,
    });
    // The API reads it back with the same key: the dashboard placed it for the account.
    const view = await api.request(`/v1/agent/calls/${id}`);
    expect(view.status).toBe(200);
  });

  it('shows a bad number and a missing objective at their fields, with the API messages, ARIA and focus, values kept', async () => {
    const res = await post(owner, { to: '555-0100', objective: '', context: 'kept <context>' });
    expect(res.status).toBe(400);
    const html = await res.text();
    // The API's words for each: the schema's for the objective left out, the guardrail's for the number.
    const missing = await apiError({ to: '555-0100' });
    expect(missing.error.details.fields).toEqual([{ field: 'objective', message: 'is required' }]);
    const badNumber = await apiError({ to: '555-0100', objective: 'Ask about opening hours.' });
    expect(badNumber.error.code).toBe('invalid_number');
    expect(errorText(html, 'f-objective')).toBe('objective is required');
    expect(errorText(html, 'f-to')).toBe(badNumber.error.message);
    expect(inputTag(html, 'objective')).toContain('aria-invalid="true"');
    expect(inputTag(html, 'objective')).toContain('aria-describedby="f-objective-error f-objective-hint"');
    expect(inputTag(html, 'to')).toContain('aria-invalid="true"');
    // Focus goes to the first invalid input in page order: `to` comes before the objective.
    expect(inputTag(html, 'to')).toContain('autofocus');
    expect(html.match(/autofocus/g)).toHaveLength(1);
    expect(html).toContain('kept &lt;context&gt;');
    expect(inputTag(html, 'to')).toContain('value="555-0100"');
    expect(await callsOfAccount()).toHaveLength(1);

    // With an objective, the number alone is refused, by the call service: 422 at `to`.
    const second = await post(owner, { to: '555-0100', objective: 'Ask about opening hours.' });
    expect(second.status).toBe(422);
    const html2 = await second.text();
    expect(errorText(html2, 'f-to')).toBe(badNumber.error.message);
    expect(inputTag(html2, 'objective')).not.toContain('aria-invalid');
    expect(html2).toContain('Ask about opening hours.</textarea>');

    // A destination the guardrails refuse for its country lands at `to` too.
    const abroad = await post(owner, { to: '+33142685300', objective: 'Ask about opening hours.' });
    expect(abroad.status).toBe(422);
    const apiAbroad = await apiError({ to: '+33142685300', objective: 'Ask about opening hours.' });
    expect(apiAbroad.error.code).toBe('destination_not_allowed');
    expect(errorText(await abroad.text(), 'f-to')).toBe(apiAbroad.error.message);

    // The same guardrail on the transfer target names `transfer.to`: it lands there, not at `to`.
    const transfer = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'Ask about opening hours.',
      'transfer.to': '+33142685300',
    });
    expect(transfer.status).toBe(422);
    const html3 = await transfer.text();
    const apiTransfer = await apiError({
      to: TEST_DESTINATION,
      objective: 'Ask about opening hours.',
      transfer: { to: '+33142685300' },
    });
    expect(apiTransfer.error.details.field).toBe('transfer.to');
    expect(errorText(html3, 'f-transfer-to')).toBe(apiTransfer.error.message);
    expect(errorText(html3, 'f-to')).toBeNull();
  });

  it('an account without numbers is told so, and a call without a caller ID is refused at From', async () => {
    const bare = await api.addAccount('no numbers');
    const user = await createUser(api.db.db, {
      accountId: bare.accountId,
      email: 'bare@example.com',
      role: 'owner',
    });
    const s = await createSession(api.db.db, user.id, new Date());
    const who = { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: s.csrfToken };
    const page = await (await fetch(`${api.url}/calls/new`, { headers: { cookie: who.cookie } })).text();
    expect(page).toContain('This account has no caller-ID numbers yet');
    const res = await post(who, { to: TEST_DESTINATION, objective: 'Ask about opening hours.' });
    expect(res.status).toBe(422);
    const fromApi = await api.request('/v1/agent/calls', {
      key: bare.key,
      method: 'POST',
      body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
    });
    const apiBody = (await fromApi.json()) as { error: { code: string; message: string } };
    expect(apiBody.error.code).toBe('no_caller_id');
    expect(errorText(await res.text(), 'f-callerId')).toBe(apiBody.error.message);
  });

  it('maps nested field paths of a schema refusal onto the inputs of that row', async () => {
    const form = {
      to: TEST_DESTINATION,
      objective: 'Ask about opening hours.',
      'fields[0].name': 'ok',
      'fields[1].name': '9bad',
      'fields[2].name': 'ok',
      'voicemail.action': 'leave_message',
      maxDurationSeconds: '10',
      webhookUrl: 'not a url',
      language: 'english please',
    };
    const res = await post(owner, form);
    expect(res.status).toBe(400);
    const html = await res.text();
    const fromApi = await apiError({
      to: TEST_DESTINATION,
      objective: 'Ask about opening hours.',
      fields: [{ name: 'ok' }, { name: '9bad' }, { name: 'ok' }],
      voicemail: { action: 'leave_message' },
      maxDurationSeconds: 10,
      webhookUrl: 'not a url',
      language: 'english please',
    });
    const problems = fromApi.error.details.fields as { field: string; message: string }[];
    expect(problems.map((p) => p.field).sort()).toEqual(
      [
        'fields[1].name',
        'fields[2].name',
        'language',
        'maxDurationSeconds',
        'voicemail.message',
        'webhookUrl',
      ].sort(),
    );
    for (const p of problems) {
      const id = `f-${p.field.replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}`;
      expect(errorText(html, id), p.field).toBe(`${p.field} ${p.message}`);
    }
    expect(inputTag(html, 'fields[1].name')).toContain('value="9bad"');
    // The first invalid input in page order takes focus.
    expect(html.match(/autofocus/g)).toHaveLength(1);
    expect(inputTag(html, 'fields[1].name')).toContain('autofocus');
  });

  it('shows a caller ID that is not the account’s, metadata that is not JSON and a used idempotency key at their fields', async () => {
    const notOwned = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'Ask about opening hours.',
      callerId: '+14155550177',
    });
    expect(notOwned.status).toBe(422);
    expect(errorText(await notOwned.text(), 'f-callerId')).toBe(
      '+14155550177 is not a caller ID number of this account.',
    );

    const badJson = await post(owner, { to: TEST_DESTINATION, objective: 'x', metadata: '{nope' });
    expect(badJson.status).toBe(400);
    expect(errorText(await badJson.text(), 'f-metadata')).toMatch(/^metadata is not valid JSON: /);

    const notObject = await post(owner, { to: TEST_DESTINATION, objective: 'x', metadata: '[1]' });
    expect(errorText(await notObject.text(), 'f-metadata')).toBe('metadata must be of type record');

    const first = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'First.',
      idempotencyKey: 'form-key-1',
    });
    expect(first.status).toBe(303);
    const again = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'First.',
      idempotencyKey: 'form-key-1',
    });
    // The same key and form: the first answer again, no second call.
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    const other = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'Other.',
      idempotencyKey: 'form-key-1',
    });
    expect(other.status).toBe(409);
    const html = await other.text();
    expect(errorText(html, 'f-idempotencyKey')).toMatch(/Idempotency-Key/i);
  });

  it('"Add a field" without script posts back the form with one more row and places nothing', async () => {
    const before = (await callsOfAccount()).length;
    const res = await post(owner, {
      to: TEST_DESTINATION,
      objective: 'Kept.',
      'fields[0].name': 'first',
      _action: 'add-field',
    });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(inputTag(html, 'fields[0].name')).toContain('value="first"');
    expect(inputTag(html, 'fields[1].name')).toContain('value=""');
    expect(html).not.toContain('aria-invalid');
    expect((await callsOfAccount()).length).toBe(before);
  });

  it('shows a refusal that belongs to no field (a cap) at the top of the form', async () => {
    // One call a day for this account, already used by the calls above.
    await api.db.db.update(accounts).set({ capCallsPerDay: 1 }).where(eq(accounts.id, api.accountId));
    const res = await post(owner, { to: TEST_DESTINATION, objective: 'One too many.' });
    expect(res.status).toBe(429);
    const html = await res.text();
    expect(html).toContain('role="alert"');
    expect(html).toMatch(/The daily cap of 1 calls is used up/);
    await api.db.db.update(accounts).set({ capCallsPerDay: null }).where(eq(accounts.id, api.accountId));
  });
});

/** Posts repeated names as a browser does for ticked checkboxes; the form's marker says it had them. */
function postPairs(who: { cookie: string; csrf: string }, pairs: [string, string][]) {
  const body = new URLSearchParams([['_csrf', who.csrf], ['_choices', '1'], ...pairs]);
  return fetch(`${api.url}/calls/new`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: who.cookie },
    body,
  });
}

const ALL_DAYS: [string, string][] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [
  'callWindow.days',
  d,
]);

/** HH:MM on the wall clock of `zone` at `at`. */
function clockIn(zone: string, at: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(at);
}

function plusMinutes(hhmm: string, minutes: number): string {
  const [h, m] = hhmm.split(':').map(Number);
  const t = (((h * 60 + m + minutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

describe('calling hours, start, expiry and retries on the form', () => {
  it("reads datetime-local values in the chosen zone, whatever the server's zone: DST gap forward, overlap earlier", () => {
    expect(wallTimeToInstant('2027-01-15T09:30', 'UTC')?.toISOString()).toBe('2027-01-15T09:30:00.000Z');
    expect(wallTimeToInstant('2027-01-15T09:30', 'America/New_York')?.toISOString()).toBe(
      '2027-01-15T14:30:00.000Z',
    );
    expect(wallTimeToInstant('2027-07-15T09:30:15', 'Europe/Paris')?.toISOString()).toBe(
      '2027-07-15T07:30:15.000Z',
    );
    // 02:30 does not exist in New York on 2026-03-08: it becomes 03:30 EDT.
    expect(wallTimeToInstant('2026-03-08T02:30', 'America/New_York')?.toISOString()).toBe(
      '2026-03-08T07:30:00.000Z',
    );
    // 01:30 happens twice on 2026-11-01: the first (EDT).
    expect(wallTimeToInstant('2026-11-01T01:30', 'America/New_York')?.toISOString()).toBe(
      '2026-11-01T05:30:00.000Z',
    );
    expect(wallTimeToInstant('2027-02-30T09:00', 'UTC')).toBeNull();
    expect(wallTimeToInstant('tomorrow', 'UTC')).toBeNull();
  });

  it("queues a call whose window is closed now in the callee's zone until it opens, with its window, expiry and retry policy", async () => {
    const now = new Date();
    const zone = 'America/Los_Angeles'; // +1 415: San Francisco
    const start = plusMinutes(clockIn(zone, now), 120);
    const end = plusMinutes(start, 60);
    const res = await postPairs(owner, [
      ['to', TEST_DESTINATION],
      ['objective', 'Remind Dana of the visit.'],
      ['callWindow.start', start],
      ['callWindow.end', end],
      ...ALL_DAYS,
      ['timeZone', 'UTC'],
      ['expiresAt', new Date(now.getTime() + 3 * 86_400_000).toISOString().slice(0, 16)],
      ['retry.maxAttempts', '3'],
      ['retry.delaySeconds', '600'],
      ['retry.on', 'no_answer'],
      ['retry.on', 'voicemail'],
    ]);
    expect(res.status).toBe(303);
    const callId = res.headers.get('location')?.split('/').pop() as string;
    const [call] = await api.db.db.select().from(calls).where(eq(calls.id, callId));
    expect(call.status).toBe('queued');
    expect(call.timeZones).toEqual([zone]);
    expect(call.callWindow).toEqual({ start, end, days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] });
    expect(call.retryPolicy).toEqual({ maxAttempts: 3, delaySeconds: 600, on: ['no_answer', 'voicemail'] });
    expect(call.expiresAt?.toISOString().slice(0, 16)).toBe(
      new Date(now.getTime() + 3 * 86_400_000).toISOString().slice(0, 16),
    );
    // Not before the window opens: the next time San Francisco's clock reads `start`.
    const scheduled = call.scheduledFor as Date;
    expect(scheduled.getTime()).toBeGreaterThan(now.getTime() + 119 * 60_000);
    expect(scheduled.getTime()).toBeLessThanOrEqual(now.getTime() + 120 * 60_000);
    expect(clockIn(zone, scheduled)).toBe(start);
    const page = await (
      await fetch(`${api.url}/calls/${callId}`, { headers: { cookie: owner.cookie } })
    ).text();
    expect(page).toMatch(
      new RegExp(
        `id="call-scheduled-for">${scheduled.toISOString().slice(0, 10)} ${scheduled.toISOString().slice(11, 19)} UTC<`,
      ),
    );
  });

  it("sends startAt as the chosen zone's wall time", async () => {
    const res = await postPairs(owner, [
      ['to', TEST_DESTINATION],
      ['objective', 'Call at half past nine in New York.'],
      ...ALL_DAYS,
      ['timeZone', 'America/New_York'],
      ['startAt', '2026-12-20T09:30'],
    ]);
    expect(res.status).toBe(303);
    const callId = res.headers.get('location')?.split('/').pop() as string;
    const [call] = await api.db.db.select().from(calls).where(eq(calls.id, callId));
    expect(call.startAt?.toISOString()).toBe('2026-12-20T14:30:00.000Z');
    expect(call.callWindow).toBeNull();
    expect(call.retryPolicy).toBeNull();
  });

  it('shows a bad window, no day, a bad retry and an unknown zone at their fields with the API messages', async () => {
    const before = (await callsOfAccount()).length;
    const res = await postPairs(owner, [
      ['to', TEST_DESTINATION],
      ['objective', 'Bad window.'],
      ['callWindow.start', '24:00'],
      ['callWindow.end', '20:00'],
      ['timeZone', 'Mars/Olympus'],
      ['retry.maxAttempts', '3'],
      ['retry.delaySeconds', '5'],
    ]);
    expect(res.status).toBe(400);
    const html = await res.text();
    const api400 = await apiError({
      to: TEST_DESTINATION,
      objective: 'Bad window.',
      callWindow: { start: '24:00', end: '20:00', days: [] },
      retry: { maxAttempts: 3, delaySeconds: 5, on: [] },
    });
    const msg = (field: string) =>
      (api400.error.details.fields as { field: string; message: string }[])
        .filter((f) => f.field === field)
        .map((f) => `${f.field} ${f.message}`)
        .join(' ');
    expect(errorText(html, 'f-callWindow-start')).toBe(msg('callWindow.start'));
    expect(errorText(html, 'f-callWindow-days')).toBe(msg('callWindow.days'));
    expect(errorText(html, 'f-retry-delaySeconds')).toBe(msg('retry.delaySeconds'));
    expect(errorText(html, 'f-retry-on')).toBe(msg('retry.on'));
    expect(errorText(html, 'f-timeZone')).toBe("timeZone 'Mars/Olympus' is not a time zone");
    expect(inputTag(html, 'callWindow.start')).toContain('aria-invalid="true"');
    expect(inputTag(html, 'callWindow.start')).toContain('autofocus');
    // What was typed comes back, the unticked days stay unticked.
    expect(inputTag(html, 'callWindow.end')).toContain('value="20:00"');
    expect(html).not.toMatch(/name="callWindow.days" value="mon"[^>]*checked/);
    expect((await callsOfAccount()).length).toBe(before);
  });

  it('puts outside_calling_hours at the calling hours when no expiry is what stops it', () => {
    const err = new ApiError('outside_calling_hours', 'No time to call.', { nextOpening: null });
    const noExpiry = readPlaceCallForm({ to: '+14155552671', objective: 'x' });
    expect(mapApiError(err, noExpiry)).toEqual({
      fieldErrors: { 'callWindow.start': ['No time to call.'] },
      formErrors: [],
    });
    // Hours that open, but only after expiresAt: the expiry is the field to change.
    const opens = new ApiError('outside_calling_hours', 'Too late.', { nextOpening: '2030-01-01T00:00:00Z' });
    const expiring = readPlaceCallForm({ to: '+14155552671', objective: 'x', expiresAt: '2029-12-31T00:00' });
    expect(mapApiError(opens, expiring).fieldErrors).toEqual({ expiresAt: ['Too late.'] });
  });

  it('shows outside_calling_hours at Expires at and destination_blocked (do-not-call) at To', async () => {
    const now = new Date();
    const zone = 'America/Los_Angeles';
    const start = plusMinutes(clockIn(zone, now), 120);
    const expires = new Date(now.getTime() + 60 * 60_000).toISOString().slice(0, 16);
    const late = await postPairs(owner, [
      ['to', TEST_DESTINATION],
      ['objective', 'Expires before the window opens.'],
      ['callWindow.start', start],
      ['callWindow.end', plusMinutes(start, 60)],
      ...ALL_DAYS,
      ['expiresAt', expires],
    ]);
    expect(late.status).toBe(422);
    expect(errorText(await late.text(), 'f-expiresAt')).toMatch(
      /^The call cannot be placed within its calling hours in the callee's time zone \(America\/Los_Angeles\): its first opening/,
    );

    const listed = '+14155550177';
    const add = await api.request('/v1/agent/do-not-call', {
      method: 'POST',
      body: JSON.stringify({ numbers: [listed] }),
    });
    expect(add.status).toBe(200);
    const blocked = await postPairs(owner, [
      ['to', listed],
      ['objective', 'Call someone who asked not to be called.'],
      ...ALL_DAYS,
    ]);
    expect(blocked.status).toBe(422);
    const expected = await apiError({ to: listed, objective: 'x' });
    expect(expected.error.code).toBe('destination_blocked');
    expect(errorText(await blocked.text(), 'f-to')).toBe(expected.error.message);
  });
});
