import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SseItem, SseParser } from '../../sdk/node/sse-parser.js';

const enc = new TextEncoder();

function parseAll(chunks: (string | Uint8Array)[]): SseItem[] {
  const p = new SseParser();
  const out: SseItem[] = [];
  for (const c of chunks) out.push(...p.feed(typeof c === 'string' ? enc.encode(c) : c));
  p.end();
  return out;
}

const events = (items: SseItem[]) => items.filter((i) => i.kind === 'event');

describe('SseParser', () => {
  it('joins multi-line data, keeps the event type and id, and skips comments', () => {
    const items = parseAll([
      ': ping\n\nid: 1.0\nevent: turn\ndata: {"a":1,\ndata:"b":2}\n\n: heartbeat\nretry: 2000\n\n',
    ]);
    expect(items).toEqual([
      { kind: 'comment', text: 'ping' },
      { kind: 'event', event: 'turn', data: '{"a":1,\n"b":2}', id: '1.0', lastEventId: '1.0' },
      { kind: 'comment', text: 'heartbeat' },
      { kind: 'retry', ms: 2000 },
    ]);
  });

  it('accepts CRLF, LF and CR line ends, mixed in one stream', () => {
    const items = events(parseAll(['data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n']));
    expect(items.map((i) => i.kind === 'event' && i.data)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('treats a CR at the end of one chunk and an LF at the start of the next as one line end', () => {
    const items = events(parseAll(['data: x\r', '\n', '\r', '\ndata: y\r', '\r\n']));
    expect(items.map((i) => i.kind === 'event' && i.data)).toEqual(['x', 'y']);
  });

  it('reassembles a UTF-8 sequence cut between chunks', () => {
    const bytes = enc.encode('data: héllo 👋 שלום\n\n');
    const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
    expect(events(parseAll(chunks))).toEqual([
      { kind: 'event', event: 'message', data: 'héllo 👋 שלום', id: null, lastEventId: '' },
    ]);
  });

  it('carries the last id over messages without one, and an empty id resets it', () => {
    const items = events(parseAll(['id: 7.3\ndata: a\n\nevent: partial\ndata: b\n\nid\ndata: c\n\n']));
    expect(items.map((i) => i.kind === 'event' && [i.id, i.lastEventId])).toEqual([
      ['7.3', '7.3'],
      [null, '7.3'],
      ['', ''],
    ]);
  });

  it('follows the standard on odd lines: no space after the colon, bare field names, unknown fields, ids with NUL, bad retry, BOM', () => {
    const items = parseAll([
      '\uFEFFdata:tight\nfoo: bar\n\ndata\n\nid: a\0b\ndata: x\n\nretry: 12a\nretry: 300\nevent: only-type\n\n',
    ]);
    expect(items).toEqual([
      { kind: 'event', event: 'message', data: 'tight', id: null, lastEventId: '' },
      { kind: 'event', event: 'message', data: '', id: null, lastEventId: '' },
      { kind: 'event', event: 'message', data: 'x', id: null, lastEventId: '' },
      { kind: 'retry', ms: 300 },
    ]);
  });

  it('drops a message the stream ends in the middle of', () => {
    expect(events(parseAll(['data: whole\n\ndata: cut off\n']))).toHaveLength(1);
  });

  it('any chunking of a stream gives the same items, and they are the messages that were sent', () => {
    const line = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\r\n\0]/g, ''));
    const message = fc.record({
      event: fc.constantFrom('', 'status', 'turn', 'partial', 'ended', 'ünïcode'),
      id: fc.option(fc.stringMatching(/^[0-9]{1,4}\.[0-9]{1,4}$/), { nil: undefined }),
      data: fc.array(line, { minLength: 1, maxLength: 4 }),
      comment: fc.option(line, { nil: undefined }),
      retry: fc.option(fc.nat(100_000), { nil: undefined }),
    });
    const eol = fc.constantFrom('\n', '\r', '\r\n');
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 8 }),
        fc.infiniteStream(eol),
        fc.array(fc.nat(), { maxLength: 30 }),
        (msgs, eols, cuts) => {
          const ends = eols[Symbol.iterator]();
          let prev = '';
          // CR then LF would be one line end, not two: after a CR the next end is CR or CRLF.
          const nl = () => {
            const next = ends.next().value as string;
            prev = prev === '\r' && next === '\n' ? '\r\n' : next;
            return prev;
          };
          let text = '';
          for (const m of msgs) {
            if (m.comment !== undefined) text += `:${m.comment}${nl()}`;
            if (m.retry !== undefined) text += `retry: ${m.retry}${nl()}`;
            if (m.id !== undefined) text += `id: ${m.id}${nl()}`;
            if (m.event) text += `event: ${m.event}${nl()}`;
            for (const d of m.data) text += `data: ${d}${nl()}`;
            text += nl();
          }
          const bytes = enc.encode(text);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Uint8Array[] = [];
          let at = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(bytes.subarray(at, p));
            at = p;
          }
          const whole = parseAll([bytes]);
          expect(parseAll(chunks)).toEqual(whole);
          let last = '';
          const expected = msgs.map((m) => {
            if (m.id !== undefined) last = m.id;
            return {
              kind: 'event',
              event: m.event || 'message',
              data: m.data.join('\n'),
              id: m.id ?? null,
              lastEventId: last,
            };
          });
          expect(events(whole)).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
