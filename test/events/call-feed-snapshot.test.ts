import { max } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { callEvents, callTurns } from '../../src/db/schema.js';
import { AccountFeed } from '../../src/events/account-feed.js';
import { CallFeed } from '../../src/events/call-feed.js';
import { START } from '../../src/events/messages.js';
import { type EventsApi, startEventsApi } from './helpers/fixture.js';

// The streams read call_events and call_turns; writes that commit while it reads must not come
// out in another order than they happened. PostgreSQL only: PGlite's one connection runs no writer
// while a read is under way.

const usePostgres = Boolean(process.env.DATABASE_URL);
let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi();
});
afterAll(async () => {
  await api?.close();
});

/**
 * The database as the feed sees it, with `between` run (once) right after the feed's first query
 * returns its rows and before its next one starts: other writers commit in the middle of its read.
 */
function withWritesAfterFirstQuery(db: Db, between: () => Promise<void>): Db {
  let fired = false;
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, key) {
        const value = Reflect.get(t, key, t) as unknown;
        if (typeof value !== 'function') return value;
        if (key === 'then' && !fired) {
          fired = true;
          return (ok: (v: unknown) => unknown, fail: (e: unknown) => unknown) =>
            (value as (a: (v: unknown) => unknown) => Promise<unknown>)
              .call(t, async (rows: unknown) => {
                await between();
                return rows;
              })
              .then(ok, fail);
        }
        if (key === 'transaction') {
          return (fn: (tx: object) => Promise<unknown>, config?: unknown) =>
            (value as (f: typeof fn, c?: unknown) => Promise<unknown>).call(t, (tx) => fn(wrap(tx)), config);
        }
        return (...args: unknown[]) => {
          const out = (value as (...a: unknown[]) => unknown).apply(t, args);
          return out !== null && typeof out === 'object' ? wrap(out) : out;
        };
      },
    });
  return wrap(db);
}

describe('CallFeed and AccountFeed', () => {
  it.skipIf(!usePostgres)(
    'sends a status and the turn after it in order when both commit while it reads',
    async () => {
      const callId = await api.placeCall();
      await api.store.transition(callId, 'dialing');
      const feed = new CallFeed(
        withWritesAfterFirstQuery(api.db.db, async () => {
          await api.store.transition(callId, 'in_progress');
          await api.store.addTurn(callId, { speaker: 'agent', text: 'Hello.', startMs: 0, endMs: 500 });
        }),
        callId,
        START,
        api.url,
      );
      const sent: string[] = [];
      for (let i = 0; i < 3 && sent.length < 4; i++) {
        for (const m of (await feed.read()).messages) sent.push(`${m.event}:${m.data.to ?? m.data.seq}`);
      }
      expect(sent).toEqual(['status:queued', 'status:dialing', 'status:in_progress', 'turn:1']);
    },
  );

  it.skipIf(!usePostgres)(
    'the account stream too sends a status and the turn after it in order when both commit while it reads',
    async () => {
      const callId = await api.placeCall();
      await api.store.transition(callId, 'dialing');
      const [e] = await api.db.db.select({ m: max(callEvents.id) }).from(callEvents);
      const [t] = await api.db.db.select({ m: max(callTurns.id) }).from(callTurns);
      const feed = await AccountFeed.open({
        db: withWritesAfterFirstQuery(api.db.db, async () => {
          await api.store.transition(callId, 'in_progress');
          await api.store.addTurn(callId, { speaker: 'agent', text: 'Hello.', startMs: 0, endMs: 500 });
        }),
        accountId: api.accountId,
        from: { events: Number(e.m ?? 0), turns: Number(t.m ?? 0) },
        publicBaseUrl: api.url,
      });
      const sent: string[] = [];
      for (let i = 0; i < 3 && sent.length < 2; i++) {
        for (const m of (await feed.read()).messages) sent.push(`${m.event}:${m.data.to ?? m.data.seq}`);
      }
      expect(sent).toEqual(['status:in_progress', 'turn:1']);
    },
  );
});
