import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callScript } from './helpers/call-writes.js';
import { type EventsApi, startEventsApi } from './helpers/fixture.js';
import { afterPlacement, dataOf } from './helpers/sse.js';

const usePostgres = Boolean(process.env.DATABASE_URL);
let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi();
});
afterAll(async () => {
  await api?.close();
});

describe('GET /v1/agent/events', () => {
  it('starts at now, follows every call of the account (never another account’s) and stays open', async () => {
    const earlier = await api.placeCall();
    await callScript(api.store, earlier).start();
    const other = await api.addAccount('neighbour', '+14155559001');
    const theirs = await api.placeCall(other.key);

    const stream = await api.stream('/v1/agent/events');
    const a = await api.placeCall();
    const b = await api.placeCall();
    const sa = callScript(api.store, a, { turns: 2 });
    const sb = callScript(api.store, b, { turns: 2 });
    await sa.start();
    await callScript(api.store, theirs).start();
    await sb.start();
    await sa.talk();
    await sb.talk();
    await sa.finish();
    await callScript(api.store, earlier).finish();
    await sb.finish();

    const got = await stream.until((m) => m.event === 'ended' && dataOf(m).callId === b);
    const callsSeen = new Set(got.map((m) => dataOf(m).callId));
    expect(callsSeen).toEqual(new Set([a, b, earlier]));
    const ofA = afterPlacement(got.filter((m) => dataOf(m).callId === a)).map((m) => m.event);
    expect(ofA).toEqual(['status', 'status', 'turn', 'turn', 'note', 'status', 'ended']);
    // What `earlier` did before the stream opened is not replayed: only its end.
    expect(got.filter((m) => dataOf(m).callId === earlier).map((m) => m.event)).toEqual([
      'note',
      'status',
      'ended',
    ]);
    const ended = dataOf(got.find((m) => m.event === 'ended' && dataOf(m).callId === a)!);
    expect(ended).toMatchObject({
      status: 'completed',
      endedReason: 'objective_met',
      extracted: { turns: 2 },
    });
    stream.close();
  });

  it.skipIf(!usePostgres)(
    'never moves its cursor past a row whose transaction is still open: a resume gets the row that committed late',
    async () => {
      const a = await api.placeCall();
      const b = await api.placeCall();
      const stream = await api.stream('/v1/agent/events');
      // Another connection takes the next event id for call a and holds its transaction open...
      const sql = postgres(api.db.url!, { max: 1, onnotice: () => {} });
      let commit!: () => void;
      const committed = new Promise<void>((r) => {
        commit = r;
      });
      let inserted!: () => void;
      const insertedP = new Promise<void>((r) => {
        inserted = r;
      });
      const tx = sql.begin(async (t) => {
        await t`insert into call_events (call_id, from_status, to_status, reason) values (${a}, 'queued', 'queued', 'late_writer')`;
        inserted();
        await committed;
      });
      await insertedP;
      // ...while a later id (call b) commits at once and is streamed.
      await api.store.note(b, 'early_writer');
      const first = await stream.until((m) => m.event === 'note');
      expect(dataOf(first[0])).toMatchObject({ callId: b, reason: 'early_writer' });
      // While the gap stays open, the stream goes on (past a whole read batch) and repeats nothing.
      const reasons = Array.from({ length: 250 }, (_, i) => `while_open_${i}`);
      for (const r of reasons) await api.store.note(b, r);
      const during = await stream.until((m) => dataOf(m).reason === reasons.at(-1));
      expect(during.map((m) => dataOf(m).reason)).toEqual(reasons);
      const cursor = stream.lastEventId!;
      stream.close();

      commit();
      await tx;
      await sql.end();
      // The earlier id committed after the client left: resuming from its last id still finds it.
      const resumed = await api.stream('/v1/agent/events', { lastEventId: cursor });
      const late = await resumed.until((m) => m.event === 'note' && dataOf(m).callId === a);
      expect(late.map((m) => dataOf(m).reason)).toContain('late_writer');
      resumed.close();

      // Once nothing is open any more, the cursor moves on past both and a resume repeats nothing.
      await api.store.note(b, 'after');
      const s3 = await api.stream('/v1/agent/events', { lastEventId: cursor });
      const got3 = await s3.until((m) => m.event === 'note' && dataOf(m).reason === 'after');
      s3.close();
      const lastId = s3.lastEventId!;
      await api.store.note(a, 'final');
      const s4 = await api.stream('/v1/agent/events', { lastEventId: lastId });
      const got4 = await s4.until((m) => m.event === 'note');
      s4.close();
      expect(got3.map((m) => dataOf(m).reason)).toContain('late_writer');
      expect(got4.map((m) => dataOf(m).reason)).toEqual(['final']);
    },
  );
});
