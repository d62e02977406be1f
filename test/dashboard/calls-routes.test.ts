import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { PAGE_SIZE } from '../../src/dashboard/calls/list-filters.js';
import { type CallRow, callEvents, calls, callTurns, webhookDeliveries } from '../../src/db/schema.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

// The calls pages over HTTP, signed in by a real session row (the cookie the sign-in page would set):
// what each user's HTML lists, the call page's sections, the recording's ranges, and the owner's actions.

let api: TestApi;
let otherAccountId: string;
const sessions: Record<'owner' | 'viewer' | 'admin' | 'otherOwner', { cookie: string; csrf: string }> =
  {} as never;

let liveCall: CallRow;
let finishedCall: CallRow;
let otherCall: CallRow;

const day = (d: string, h = 12) => new Date(`${d}T${String(h).padStart(2, '0')}:00:00.000Z`);

async function insertCall(
  values: Partial<typeof calls.$inferInsert> & { accountId: string },
): Promise<CallRow> {
  const [row] = await api.db.db
    .insert(calls)
    .values({
      toNumber: '+14155552671',
      callerId: '+14155550100',
      objective: 'Ask about opening hours.',
      language: 'en-US',
      ...values,
    })
    .returning();
  return row;
}

async function signIn(accountId: string, email: string, role: 'owner' | 'viewer', instanceAdmin = false) {
  const { user } = await createUser(api.db.db, { accountId, email, role, instanceAdmin });
  const s = await createSession(api.db.db, user.id, new Date());
  return { cookie: `agentline_session=${s.token}`, csrf: s.csrfToken };
}

function get(pathname: string, who: keyof typeof sessions, headers: Record<string, string> = {}) {
  return fetch(`${api.url}${pathname}`, {
    headers: { cookie: sessions[who].cookie, accept: 'text/html', ...headers },
    redirect: 'manual',
  });
}

function post(pathname: string, who: keyof typeof sessions, csrf: string | null = sessions[who].csrf) {
  const body = new URLSearchParams();
  if (csrf !== null) body.set('_csrf', csrf);
  return fetch(`${api.url}${pathname}`, {
    method: 'POST',
    headers: {
      cookie: sessions[who].cookie,
      accept: 'text/html',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
    redirect: 'manual',
  });
}

/** The page a POST redirected to, with the one-time flash cookie it set (as a browser would follow it). */
async function follow(res: Response, who: keyof typeof sessions): Promise<string> {
  const flash = res.headers.getSetCookie().find((c) => c.startsWith('agentline_flash='));
  const location = res.headers.get('location') as string;
  const cookie = flash ? `${sessions[who].cookie}; ${flash.split(';')[0]}` : sessions[who].cookie;
  return (await get(location, who, { cookie })).text();
}

/** Call ids in the list's rows, top to bottom. */
function listedIds(html: string): string[] {
  return [...html.matchAll(/<tr data-call-id="([0-9a-f-]{36})"/g)].map((m) => m[1]);
}

beforeAll(async () => {
  api = await startTestApi();
  const other = await api.addAccount('other-co', '+14155550111');
  otherAccountId = other.accountId;
  sessions.owner = await signIn(api.accountId, 'owner@example.com', 'owner');
  sessions.viewer = await signIn(api.accountId, 'viewer@example.com', 'viewer');
  sessions.admin = await signIn(otherAccountId, 'admin@example.com', 'owner', true);
  sessions.otherOwner = await signIn(otherAccountId, 'other@example.com', 'owner');

  // 30 finished calls of the test account over 30 days of November, to distinct numbers.
  for (let i = 1; i <= 30; i++) {
    await insertCall({
      accountId: api.accountId,
      toNumber: `+1415555${String(3000 + i)}`,
      status: i % 3 === 0 ? 'no_answer' : 'completed',
      createdAt: day(`2026-11-${String(i).padStart(2, '0')}`),
      endedAt: day(`2026-11-${String(i).padStart(2, '0')}`, 13),
      durationSeconds: i,
    });
  }
  liveCall = await insertCall({
    accountId: api.accountId,
    toNumber: '+14155550193',
    status: 'in_progress',
    createdAt: day('2026-12-05', 9),
    startedAt: day('2026-12-05', 9),
  });
  fs.writeFileSync(
    path.join(api.recordingsDir, 'finished.wav'),
    encodeWav({
      sampleRate: 8000,
      samples: Int16Array.from({ length: 16000 }, (_, i) => (i < 8000 ? 0 : 8000)),
    }),
  );
  finishedCall = await insertCall({
    accountId: api.accountId,
    toNumber: '+14155550194',
    status: 'completed',
    endedReason: 'agent_hangup',
    summary: 'The shop is open until six today.',
    extracted: { open_today: true, closing_time: '18:00' },
    fields: [
      { name: 'open_today', type: 'boolean' },
      { name: 'closing_time', type: 'string' },
    ],
    recordingFile: 'finished.wav',
    webhookUrl: 'https://hooks.example.com/agentline',
    createdAt: day('2026-12-05', 10),
    dialedAt: day('2026-12-05', 10),
    startedAt: new Date('2026-12-05T10:00:05.000Z'),
    endedAt: new Date('2026-12-05T10:01:20.000Z'),
    durationSeconds: 75,
  });
  await api.db.db.insert(callTurns).values([
    {
      callId: finishedCall.id,
      seq: 1,
      speaker: 'callee',
      text: 'Corner shop, hello?',
      startMs: 200,
      endMs: 1500,
    },
    {
      callId: finishedCall.id,
      seq: 2,
      speaker: 'agent',
      text: 'Hi, are you open today? I wanted to ask whether',
      startMs: 2100,
      endMs: 4000,
      interrupted: true,
      latency: {
        calleeSpeechEndMs: 1500,
        sttFinalMs: 1650,
        firstTokenMs: 1800,
        firstTtsAudioMs: 1950,
        firstVoicedFrameMs: 2100,
      },
    },
    {
      callId: finishedCall.id,
      seq: 3,
      speaker: 'callee',
      text: 'Yes, until six.',
      startMs: 3800,
      endMs: 5200,
    },
  ]);
  await api.db.db.insert(callEvents).values([
    {
      callId: finishedCall.id,
      fromStatus: 'queued',
      toStatus: 'dialing',
      at: new Date('2026-12-05T10:00:01.000Z'),
    },
    {
      callId: finishedCall.id,
      fromStatus: 'dialing',
      toStatus: 'dialing',
      reason: 'ari_request_failed: 422 Channel not in Stasis application',
      at: new Date('2026-12-05T10:00:03.000Z'),
    },
    {
      callId: finishedCall.id,
      fromStatus: 'dialing',
      toStatus: 'in_progress',
      at: new Date('2026-12-05T10:00:05.000Z'),
    },
    {
      callId: finishedCall.id,
      fromStatus: 'in_progress',
      toStatus: 'completed',
      reason: 'agent_hangup',
      at: new Date('2026-12-05T10:01:21.000Z'),
    },
  ]);
  await api.db.db.insert(webhookDeliveries).values([
    {
      accountId: api.accountId,
      callId: finishedCall.id,
      event: 'call.in_progress',
      url: 'https://hooks.example.com/agentline',
      payload: {},
      status: 'delivered',
      attempts: 1,
      lastStatusCode: 200,
      deliveredAt: new Date('2026-12-05T10:00:06.000Z'),
    },
    {
      accountId: api.accountId,
      callId: finishedCall.id,
      event: 'call.completed',
      url: 'https://hooks.example.com/agentline',
      payload: {},
      status: 'dead',
      attempts: 8,
      lastStatusCode: 503,
      lastError: 'receiver answered 503',
      nextAttemptAt: new Date('2026-12-05T12:00:00.000Z'),
    },
  ]);
  otherCall = await insertCall({
    accountId: otherAccountId,
    toNumber: '+14155559999',
    status: 'completed',
    createdAt: day('2026-12-06', 8),
  });
});

afterAll(async () => {
  await api?.close();
});

describe('the calls list', () => {
  it('lists only the account’s own calls, newest first, a page at a time with a working cursor', async () => {
    const res = await get('/calls', 'viewer');
    expect(res.status).toBe(200);
    const html = await res.text();
    const ids = listedIds(html);
    expect(ids).toHaveLength(PAGE_SIZE);
    expect(ids[0]).toBe(finishedCall.id);
    expect(ids[1]).toBe(liveCall.id);
    expect(ids).not.toContain(otherCall.id);
    expect(html).not.toContain('+14155559999');
    expect(html).not.toContain('<th scope="col">Account</th>');
    const next = html.match(/<a rel="next" href="([^"]+)"/)?.[1].replace(/&amp;/g, '&');
    expect(next).toMatch(/^\/calls\?cursor=/);
    const page2 = await (await get(next as string, 'viewer')).text();
    const ids2 = listedIds(page2);
    expect(ids2).toHaveLength(32 - PAGE_SIZE);
    expect(new Set([...ids, ...ids2]).size).toBe(32);
    expect(page2).not.toContain('rel="next"');
    // Only the newest page follows the live stream (a later page would otherwise grow at its top).
    expect(html).toContain('data-live="1"');
    expect(page2).not.toContain('data-live="1"');
  });

  it('filters by status, by part of the number (typed with spaces) and by a UTC date range', async () => {
    const live = listedIds(await (await get('/calls?status=live', 'owner')).text());
    expect(live).toEqual([liveCall.id]);
    const noAnswer = listedIds(await (await get('/calls?status=no_answer', 'owner')).text());
    expect(noAnswer).toHaveLength(10);
    const byNumber = await (await get(`/calls?q=${encodeURIComponent('555 3012')}`, 'owner')).text();
    expect(listedIds(byNumber)).toHaveLength(1);
    expect(byNumber).toContain('+14155553012');
    expect(byNumber).toContain('value="555 3012"');
    const range = listedIds(await (await get('/calls?from=2026-11-10&to=2026-11-12', 'owner')).text());
    expect(range).toHaveLength(3);
    const combined = await (
      await get('/calls?status=completed&from=2026-11-01&to=2026-11-06', 'owner')
    ).text();
    expect(listedIds(combined)).toHaveLength(4);
    // The next page keeps the filters.
    const paged = await (await get('/calls?q=4155553', 'owner')).text();
    expect(listedIds(paged)).toHaveLength(PAGE_SIZE);
    const next = paged.match(/<a rel="next" href="([^"]+)"/)?.[1].replace(/&amp;/g, '&') as string;
    expect(next).toMatch(/^\/calls\?q=4155553&cursor=/);
    expect(listedIds(await (await get(next, 'owner')).text())).toHaveLength(30 - PAGE_SIZE);
  });

  it('refuses unusable filters next to their inputs with a 400, and says so for a bad cursor', async () => {
    const res = await get('/calls?status=ringing&q=abc&from=2026-02-31', 'owner');
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('id="f-status-error"');
    expect(html).toContain('must be digits of a phone number');
    expect(html).toContain('must be a date (YYYY-MM-DD)');
    expect(html).toMatch(/id="f-q"[^>]*aria-invalid="true"/);
    const badCursor = await get('/calls?cursor=bm9wZQ', 'owner');
    expect(badCursor.status).toBe(400);
    expect(await badCursor.text()).toContain('This page link is no longer valid');
  });

  it('shows an instance admin every account’s calls with an account column', async () => {
    const html = await (await get('/calls', 'admin')).text();
    const ids = listedIds(html);
    expect(ids[0]).toBe(otherCall.id);
    expect(ids).toContain(finishedCall.id);
    expect(html).toContain('<th scope="col">Account</th>');
    expect(html).toContain('<td>other-co</td>');
    expect(html).toContain('<td>test</td>');
  });

  it('renders one row for the live script only when the filters keep the call, and never another account’s', async () => {
    const row = await get(`/calls/${liveCall.id}/row`, 'viewer');
    expect(row.status).toBe(200);
    expect(await row.text()).toMatch(new RegExp(`^<tr data-call-id="${liveCall.id}"`));
    expect((await get(`/calls/${liveCall.id}/row?status=completed`, 'viewer')).status).toBe(204);
    expect((await get(`/calls/${liveCall.id}/row?q=0193`, 'viewer')).status).toBe(200);
    expect((await get(`/calls/${liveCall.id}/row?q=0194`, 'viewer')).status).toBe(204);
    expect((await get(`/calls/${otherCall.id}/row`, 'viewer')).status).toBe(404);
  });

  it('sends a browser without a session to sign in', async () => {
    const res = await fetch(`${api.url}/calls?status=live`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toContain('/sign-in');
  });
});

describe('a call’s page', () => {
  it('shows the facts, timeline with notes, transcript with the interruption marked, results, latency and webhooks', async () => {
    const res = await get(`/calls/${finishedCall.id}`, 'viewer');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h1 id="call-title">Call to +14155550194</h1>');
    expect(html).toContain('<dd class="number">+14155550100</dd>');
    expect(html).toContain('<dd id="call-ended-reason">agent_hangup</dd>');
    expect(html).toContain('<dd id="call-duration">1:15</dd>');
    // The timeline: each change with its time, the note with its reason.
    expect(html).toMatch(/<time datetime="2026-12-05T10:00:01.000Z">10:00:01<\/time>/);
    expect(html).toContain('ari_request_failed: 422 Channel not in Stasis application');
    // The transcript in conversation order; the interrupted turn marked for eyes and screen readers.
    const turns = [
      ...html.matchAll(/<li class="turn turn-(agent|callee)( turn-interrupted)?" data-seq="(\d)"/g),
    ];
    expect(turns.map((m) => [m[1], Boolean(m[2]), m[3]])).toEqual([
      ['callee', false, '1'],
      ['agent', true, '2'],
      ['callee', false, '3'],
    ]);
    expect(html).toContain(
      'Interrupted<span class="visually-hidden">: cut off when the other party spoke</span>',
    );
    expect(html).toContain('0:02.1–0:04.0');
    expect(html).toContain('The shop is open until six today.');
    expect(html).toMatch(
      /<tr data-field="open_today"><th scope="row">open_today <span class="muted">\(boolean\)<\/span><\/th><td>yes<\/td>/,
    );
    expect(html).toMatch(/<tr data-field="closing_time">.*?<td>18:00<\/td>/);
    // The latency table (the chart's text for screen readers): stages after the callee stopped.
    expect(html).toMatch(
      /<th scope="row">2<\/th><td>150 ms<\/td><td>300 ms<\/td><td>450 ms<\/td><td>600 ms<\/td>/,
    );
    expect(html).toContain('class="latency-chart"');
    // Webhook deliveries with attempts and the last answer; a dead one is offered again to owners only.
    expect(html).toMatch(
      /<tr data-delivery="call.completed">.*?dead.*?<td>8<\/td><td>HTTP 503: receiver answered 503<\/td>/,
    );
    expect(html).not.toContain('Redeliver');
    // The recording and its waveform; the stream cursor resumes after what is shown.
    expect(html).toContain(
      `<audio id="recording" controls="" preload="metadata" src="/calls/${finishedCall.id}/recording"`,
    );
    expect(html).toMatch(/<svg id="waveform"[^>]*data-duration="2.000"/);
    expect(html).toMatch(/data-cursor="\d+\.\d+"/);
    expect(html).not.toContain('data-live="1"');
    expect(html).not.toContain('Cancel call');
    expect(html).not.toContain('listen-control');
  });

  it('is a 404 page for another account’s call, for its recording and for a made-up id', async () => {
    for (const p of [
      `/calls/${otherCall.id}`,
      `/calls/${otherCall.id}/recording`,
      '/calls/00000000-0000-4000-8000-000000000000',
    ]) {
      const res = await get(p, 'owner');
      expect(res.status, p).toBe(404);
      expect(await res.text(), p).not.toContain('+14155559999');
    }
    const own = await get(`/calls/${otherCall.id}`, 'otherOwner');
    expect(own.status).toBe(200);
    // An instance admin reads it, without the account's actions.
    const admin = await (await get(`/calls/${finishedCall.id}`, 'admin')).text();
    expect(admin).toContain('<dt>Account</dt>');
    expect(admin).not.toContain('Redeliver');
  });

  it('serves the recording under the session with byte ranges, as the player seeks', async () => {
    const whole = await get(`/calls/${finishedCall.id}/recording`, 'viewer');
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect((await whole.arrayBuffer()).byteLength).toBe(44 + 32000);
    const part = await get(`/calls/${finishedCall.id}/recording`, 'viewer', { range: 'bytes=44-1043' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 44-1043/${44 + 32000}`);
    expect((await part.arrayBuffer()).byteLength).toBe(1000);
    const outside = await get(`/calls/${finishedCall.id}/recording`, 'viewer', { range: 'bytes=99999-' });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${44 + 32000}`);
    const anonymous = await fetch(`${api.url}/calls/${finishedCall.id}/recording`, { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
  });
});

describe('actions on a call', () => {
  it('lets an owner cancel a live call with the CSRF token; a viewer and a forged form cannot', async () => {
    const page = await (await get(`/calls/${liveCall.id}`, 'owner')).text();
    expect(page).toContain('Cancel call');
    expect(page).toContain('data-live="1"');
    // The live-listen control sits beside Cancel while the call is live.
    expect(page).toContain('class="listen-control"');
    expect(await (await get(`/calls/${liveCall.id}`, 'viewer')).text()).not.toContain('Cancel call');

    expect((await post(`/calls/${liveCall.id}/cancel`, 'viewer')).status).toBe(403);
    expect((await post(`/calls/${liveCall.id}/cancel`, 'owner', null)).status).toBe(403);
    expect((await post(`/calls/${liveCall.id}/cancel`, 'otherOwner')).status).toBe(404);
    const [still] = await api.db.db.select().from(calls).where(eq(calls.id, liveCall.id));
    expect(still.status).toBe('in_progress');

    const res = await post(`/calls/${liveCall.id}/cancel`, 'owner');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/calls/${liveCall.id}`);
    const [canceled] = await api.db.db.select().from(calls).where(eq(calls.id, liveCall.id));
    expect([canceled.status, canceled.endedReason]).toEqual(['failed', 'canceled']);
    const after = await follow(res, 'owner');
    expect(after).toContain('The call was canceled.');
    expect(after).not.toContain('Cancel call');
    const again = await post(`/calls/${liveCall.id}/cancel`, 'owner');
    expect(await follow(again, 'owner')).toContain('The call had already ended; nothing was canceled.');
  });

  it('lets an owner redeliver the call’s dead webhook event, and no one else', async () => {
    expect(await (await get(`/calls/${finishedCall.id}`, 'owner')).text()).toContain(
      'Redeliver undelivered events',
    );
    expect((await post(`/calls/${finishedCall.id}/redeliver`, 'viewer')).status).toBe(403);
    // An instance admin of another account reads the call but does not act for its account.
    expect((await post(`/calls/${finishedCall.id}/redeliver`, 'admin')).status).toBe(403);
    const res = await post(`/calls/${finishedCall.id}/redeliver`, 'owner');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/calls/${finishedCall.id}`);
    const rows = await api.db.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.callId, finishedCall.id));
    expect(rows.find((r) => r.event === 'call.completed')?.status).toBe('pending');
    expect(rows.find((r) => r.event === 'call.in_progress')?.status).toBe('delivered');
    expect(await follow(res, 'owner')).toContain('1 webhook event(s) will be sent again now.');
  });
});
