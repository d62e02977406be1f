import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { type EventsApi, startEventsApi } from './helpers/fixture.js';
import { dataOf, openSse } from './helpers/sse.js';

// The dashboard's /ui/events behind the calls list: an instance admin's list shows every account's
// calls, so their stream follows every account; anyone else's follows only their own account.

let api: EventsApi;
let other: { accountId: string; key: string };
let seq = 0;

beforeAll(async () => {
  api = await startEventsApi();
  other = await api.addAccount('other', '+14155559003');
});
afterAll(async () => {
  await api?.close();
});

async function session(accountId: string, instanceAdmin: boolean): Promise<string> {
  const { user } = await createUser(api.db.db, {
    accountId,
    email: `admin-stream-${++seq}@example.test`,
    role: 'owner',
    instanceAdmin,
  });
  const s = await createSession(api.db.db, user.id, new Date());
  return `agentline_session=${s.token}`;
}

const uiEvents = (cookie: string) =>
  openSse(`${api.url}/ui/events`, { redirect: 'manual', headers: { cookie, accept: 'text/event-stream' } });

describe('/ui/events', () => {
  it("streams every account's calls to an instance admin", async () => {
    const admin = await uiEvents(await session(api.accountId, true));
    expect(admin.status).toBe(200);
    const theirs = await api.placeCall(other.key);
    await api.store.transition(theirs, 'dialing');
    const mine = await api.placeCall();
    const got = await admin.until((m) => dataOf(m).callId === mine);
    admin.close();
    expect(got.map((m) => [m.event, dataOf(m).callId, dataOf(m).to])).toEqual([
      ['status', theirs, 'queued'],
      ['status', theirs, 'dialing'],
      ['status', mine, 'queued'],
    ]);
  });

  it("never streams another account's call to a user who is not an instance admin", async () => {
    const user = await uiEvents(await session(api.accountId, false));
    expect(user.status).toBe(200);
    const theirs = await api.placeCall(other.key);
    await api.store.transition(theirs, 'dialing');
    await api.store.note(theirs, 'someone_else');
    // Written after theirs: the stream sends in id order, so once this arrives theirs were passed over.
    const mine = await api.placeCall();
    const got = await user.until((m) => dataOf(m).callId === mine);
    user.close();
    expect(got.map((m) => [m.event, dataOf(m).callId])).toEqual([['status', mine]]);
  });
});
