import { describe, expect, it } from 'vitest';
import type { Feed, FeedRead } from '../../src/events/call-feed.js';
import { createLocalBus } from '../../src/events/live-bus.js';
import { createSseStream } from '../../src/events/sse-stream.js';
import { silentLogger } from '../../src/logger.js';
import { countingBus } from './helpers/fixture.js';

const CALL = '11111111-1111-4111-8111-111111111111';
const ACCOUNT = '22222222-2222-4222-8222-222222222222';
const decoder = new TextDecoder();

/** A feed with an endless backlog: every read returns one more turn. */
function endlessFeed() {
  let reads = 0;
  const feed: Feed & { readonly reads: number } = {
    async read(): Promise<FeedRead> {
      reads++;
      return {
        messages: [
          {
            event: 'turn',
            id: `0.${reads}`,
            data: { callId: CALL, seq: reads, text: 'x'.repeat(1000), at: '' },
          },
        ],
        done: false,
      };
    },
    get reads() {
      return reads;
    },
  };
  return feed;
}

const quietFeed = (): Feed => ({ read: async () => ({ messages: [], done: false }) });

async function turnsOfTheLoop(n: number) {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

async function readText(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const r = await reader.read();
  return r.done ? '' : decoder.decode(r.value);
}

describe('createSseStream', () => {
  it('reads the feed only as fast as the client takes what was sent (one batch in memory at most)', async () => {
    const feed = endlessFeed();
    const reader = createSseStream({ feed, concerns: () => true, logger: silentLogger() }).getReader();
    expect(await readText(reader)).toBe('retry: 2000\n\n');
    expect(await readText(reader)).toContain('id: 0.1\nevent: turn\n');
    // The client takes nothing more: the feed is not read again, however long it waits.
    await turnsOfTheLoop(50);
    expect(feed.reads).toBe(1);
    expect(await readText(reader)).toContain('id: 0.2\n');
    await turnsOfTheLoop(50);
    expect(feed.reads).toBe(2);
    await reader.cancel();
  });

  it('sends `: ping` when nothing happens, and wakes at once on a `changed` for its call', async () => {
    const bus = createLocalBus(silentLogger());
    let reads = 0;
    let next: FeedRead = { messages: [], done: false };
    const feed: Feed = {
      read: async () => {
        reads++;
        const r = next;
        next = { messages: [], done: false };
        return r;
      },
    };
    const reader = createSseStream({
      feed,
      bus,
      concerns: (m) => m.callId === CALL,
      logger: silentLogger(),
      heartbeatMs: 30,
      // Far longer than any test: only a wake-up can explain a read.
      pollMs: 3_600_000,
    }).getReader();
    expect(await readText(reader)).toBe('retry: 2000\n\n');
    expect(await readText(reader)).toBe(': ping\n\n');
    const readsBefore = reads;
    next = { messages: [{ event: 'note', id: '5.0', data: { callId: CALL, at: 'now' } }], done: false };
    const pending = readText(reader);
    bus.publish({ kind: 'changed', callId: '99999999-9999-4999-8999-999999999999', accountId: ACCOUNT });
    bus.publish({ kind: 'changed', callId: CALL, accountId: ACCOUNT });
    let text = await pending;
    // A ping may have been due first; the note follows.
    if (text === ': ping\n\n') text = await readText(reader);
    expect(text).toBe(
      'id: 5.0\nevent: note\ndata: {"callId":"11111111-1111-4111-8111-111111111111","at":"now"}\n\n',
    );
    expect(reads).toBeGreaterThan(readsBefore);
    await reader.cancel();
    await bus.close();
  });

  it('keeps only the latest partial of each call while the client is not reading, and none of other calls', async () => {
    const bus = createLocalBus(silentLogger());
    const reader = createSseStream({
      feed: quietFeed(),
      bus,
      concerns: (m) => m.callId === CALL,
      logger: silentLogger(),
      pollMs: 3_600_000,
    }).getReader();
    expect(await readText(reader)).toBe('retry: 2000\n\n');
    // The stream is waiting inside a pull: the first partial wakes it.
    bus.publish({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'hello' });
    expect(await readText(reader)).toMatch(
      /^event: partial\ndata: \{"callId":"[^"]+","speaker":"callee","text":"hello","at":"[^"]+"\}\n\n$/,
    );
    // Now nobody reads: these pile up as one.
    bus.publish({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'hello we' });
    bus.publish({
      kind: 'partial',
      callId: '99999999-9999-4999-8999-999999999999',
      accountId: ACCOUNT,
      text: 'no',
    });
    bus.publish({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'hello we are open' });
    const text = await readText(reader);
    expect(text.match(/event: partial/g)).toHaveLength(1);
    expect(text).toContain('"text":"hello we are open"');
    await reader.cancel();
    await bus.close();
  });

  it('holds partials back until the history was sent', async () => {
    const bus = createLocalBus(silentLogger());
    const history: FeedRead[] = [
      { messages: [{ event: 'turn', id: '0.1', data: { callId: CALL, at: 'then' } }], done: false },
      { messages: [{ event: 'turn', id: '0.2', data: { callId: CALL, at: 'then' } }], done: false },
    ];
    const feed: Feed = { read: async () => history.shift() ?? { messages: [], done: false } };
    const stream = createSseStream({
      feed,
      bus,
      concerns: () => true,
      logger: silentLogger(),
      pollMs: 3_600_000,
    });
    bus.publish({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'in progress' });
    const reader = stream.getReader();
    expect(await readText(reader)).toBe('retry: 2000\n\n');
    expect(await readText(reader)).toContain('id: 0.1\n');
    expect(await readText(reader)).toContain('id: 0.2\n');
    expect(await readText(reader)).toContain('"text":"in progress"');
    await reader.cancel();
    await bus.close();
  });

  it('ends when the bus closes (the server stops) and lets go of the bus when the client cancels', async () => {
    const bus = countingBus(createLocalBus(silentLogger()));
    const a = createSseStream({
      feed: quietFeed(),
      bus,
      concerns: () => true,
      logger: silentLogger(),
    }).getReader();
    const b = createSseStream({
      feed: quietFeed(),
      bus,
      concerns: () => true,
      logger: silentLogger(),
    }).getReader();
    expect(bus.subscribers).toBe(2);
    await a.cancel();
    expect(bus.subscribers).toBe(1);
    expect(await readText(b)).toBe('retry: 2000\n\n');
    const end = b.read();
    await bus.close();
    expect((await end).done).toBe(true);
    expect(bus.subscribers).toBe(0);
  });

  it('keeps the client through a failing read and sends what the next read finds', async () => {
    let calls = 0;
    const feed: Feed = {
      read: async () => {
        calls++;
        if (calls === 1) throw new Error('connection refused');
        return { messages: [{ event: 'note', id: '1.0', data: { callId: CALL, at: 'now' } }], done: true };
      },
    };
    const reader = createSseStream({
      feed,
      concerns: () => true,
      logger: silentLogger(),
      pollMs: 5,
    }).getReader();
    expect(await readText(reader)).toBe('retry: 2000\n\n');
    expect(await readText(reader)).toContain('id: 1.0\nevent: note');
    expect((await reader.read()).done).toBe(true);
  });
});
