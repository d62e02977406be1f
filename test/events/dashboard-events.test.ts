import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { callScript } from './helpers/call-writes.js';
import { type EventsApi, startEventsApi } from './helpers/fixture.js';
import { afterPlacement, dataOf, openSse } from './helpers/sse.js';

// The dashboard's streams behind its session cookie: the same messages as the API's, for the
// signed-in user's account; an instance admin may follow any account's call.

let api: EventsApi;
let otherAccountId: string;
let seq = 0;

beforeAll(async () => {
  api = await startEventsApi();
  otherAccountId = (await api.addAccount('other', '+14155559002')).accountId;
});
afterAll(async () => {
  await api?.close();
});

async function session(accountId: string, role: 'owner' | 'viewer', instanceAdmin = false): Promise<string> {
  const { user } = await createUser(api.db.db, {
    accountId,
    email: `events-${++seq}@example.test`,
    role,
    instanceAdmin,
  });
  const s = await createSession(api.db.db, user.id, new Date());
  return `agentline_session=${s.token}`;
}

const ui = (pathname: string, cookie: string | null, lastEventId?: string) =>
  openSse(`${api.url}${pathname}`, {
    redirect: 'manual',
    headers: {
      ...(cookie ? { cookie } : {}),
      accept: 'text/event-stream',
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    },
  });

describe('/ui/calls/:id/events and /ui/events', () => {
  it("streams the user's own calls exactly as the API does", async () => {
    const viewer = await session(api.accountId, 'viewer');
    const account = await ui('/ui/events', viewer);
    expect(account.status).toBe(200);
    const callId = await api.placeCall();
    const script = callScript(api.store, callId);
    await script.start();
    await script.talk();
    await script.finish();
    const fromApi = await (await api.stream(`/v1/agent/calls/${callId}/events`)).rest();
    const fromUi = await (await ui(`/ui/calls/${callId}/events`, viewer)).rest();
    expect(fromUi).toEqual(fromApi);
    const resumed = await (await ui(`/ui/calls/${callId}/events`, viewer, fromApi[2].id)).rest();
    expect(resumed).toEqual(fromApi.slice(3));
    const live = await account.until((m) => m.event === 'ended');
    account.close();
    expect(live.map((m) => m.data)).toEqual(fromApi.map((m) => m.data));
  });

  it('hides other accounts’ calls (404) except from an instance admin, and needs a session', async () => {
    const callId = await api.placeCall();
    await callScript(api.store, callId).start();
    const stranger = await session(otherAccountId, 'owner');
    const refused = await ui(`/ui/calls/${callId}/events`, stranger);
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });

    const admin = await session(otherAccountId, 'viewer', true);
    const seen = await ui(`/ui/calls/${callId}/events`, admin);
    expect(seen.status).toBe(200);
    const first = await seen.until((m) => m.event === 'status' && dataOf(m).to === 'in_progress');
    seen.close();
    expect(afterPlacement(first).map((m) => m.event)).toEqual(['status', 'status']);

    const anonymous = await ui(`/ui/calls/${callId}/events`, null);
    expect(anonymous.status).toBe(302);
    const anonymousAll = await ui('/ui/events', null);
    expect(anonymousAll.status).toBe(302);
  });
});
