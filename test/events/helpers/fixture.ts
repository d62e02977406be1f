import type { CallStore } from '../../../src/calls/call-store.js';
import { createLiveBus, type LiveBus, type LiveMessage } from '../../../src/events/live-bus.js';
import { silentLogger } from '../../../src/logger.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../../helpers/api-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.js';
import { openSse, type SseClient } from './sse.js';

/** A bus that counts its subscribers, so tests can see a stream let go of everything. */
export interface CountingBus extends LiveBus {
  readonly subscribers: number;
}

export function countingBus(inner: LiveBus): CountingBus {
  let subscribers = 0;
  return {
    publish: (m) => inner.publish(m),
    subscribe(fn: (m: LiveMessage) => void, onClose?: () => void) {
      subscribers++;
      let done = false;
      const off = inner.subscribe(fn, () => {
        if (!done) subscribers--;
        done = true;
        onClose?.();
      });
      return () => {
        if (!done) subscribers--;
        done = true;
        off();
      };
    },
    close: () => inner.close(),
    get subscribers() {
      return subscribers;
    },
  };
}

export interface EventsApi extends TestApi {
  bus: CountingBus;
  store: CallStore;
  /** Places a call through the API (queued) and returns its id. */
  placeCall(key?: string): Promise<string>;
  /** Opens a stream on this server with the account's key (or `key`), e.g. `/v1/agent/calls/<id>/events`. */
  stream(pathname: string, opts?: { key?: string | null; lastEventId?: string }): Promise<SseClient>;
}

/**
 * The real API on loopback with a live bus; its store's writes are published as a worker's would be.
 * Without `db` it opens its own database and closes it with the server.
 */
export async function startEventsApi(opts: { db?: TestDatabase } = {}): Promise<EventsApi> {
  const db = opts.db ?? (await createTestDatabase());
  const bus = countingBus(await createLiveBus(db, silentLogger()));
  const api = await startTestApi({ db, tweak: (deps) => ({ ...deps, bus }) });
  const store = api.deps.calls;
  store.onWrite = (w) => bus.publish({ kind: 'changed', ...w });
  return {
    ...api,
    bus,
    store,
    async placeCall(key = api.key) {
      const res = await api.request('/v1/agent/calls', {
        method: 'POST',
        key,
        body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask whether the shop is open today.' }),
      });
      if (res.status !== 201) throw new Error(`placeCall: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { callId: string }).callId;
    },
    stream(pathname, o = {}) {
      const headers = new Headers();
      const key = o.key === undefined ? api.key : o.key;
      if (key !== null) headers.set('authorization', `Bearer ${key}`);
      if (o.lastEventId) headers.set('last-event-id', o.lastEventId);
      return openSse(`${api.url}${pathname}`, { headers });
    },
    async close() {
      await bus.close();
      await api.close();
      if (!opts.db) await db.close();
    },
  };
}

/** Waits for `check` to hold, asking again after each turn of the event loop's timers. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export { openSse, TEST_DESTINATION };
