/** One Server-Sent Events message as a client sees it. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  contentType: string | null;
  /** The response body as JSON (for the error answers that come before a stream). */
  json(): Promise<unknown>;
  /** The next message; null once the stream has ended. Comments (`: ping`) and `retry:` are recorded, not returned. */
  next(): Promise<SseMessage | null>;
  /** Messages until `stop` says so (inclusive) or the stream ends. */
  until(stop: (m: SseMessage) => boolean): Promise<SseMessage[]>;
  /** Everything left until the server ends the stream. */
  rest(): Promise<SseMessage[]>;
  comments: string[];
  retry: number | null;
  /** The id of the last message that had one, as a browser keeps it for Last-Event-ID. */
  lastEventId: string | null;
  close(): void;
}

/**
 * A tiny text/event-stream client over fetch, parsing the way the HTML standard does (lines end in
 * LF, CR or CRLF; a blank line dispatches; `id`, `event`, `data`, `retry` fields; `:` comments).
 */
export async function openSse(url: string, init: RequestInit = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { ...init, signal: abort.signal });
  const isStream = res.ok && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const reader = isStream ? res.body!.pipeThrough(new TextDecoderStream()).getReader() : null;
  let buf = '';
  let ended = !isStream;
  const ready: SseMessage[] = [];
  let cur: { id?: string; event?: string; data: string[] } = { data: [] };

  const client: SseClient = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    json: () => res.json(),
    comments: [],
    retry: null,
    lastEventId: null,
    async next() {
      while (ready.length === 0) {
        if (ended || !reader) return null;
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          ended = true;
          return null;
        }
        if (chunk.done) {
          ended = true;
          break;
        }
        buf += chunk.value;
        parse();
      }
      return ready.shift() ?? null;
    },
    async until(stop) {
      const out: SseMessage[] = [];
      for (;;) {
        const m = await client.next();
        if (!m) return out;
        out.push(m);
        if (stop(m)) return out;
      }
    },
    rest: () => client.until(() => false),
    close() {
      ended = true;
      abort.abort();
    },
  };

  function parse(): void {
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      // A lone CR at the end may be half of a CRLF still on its way.
      if (!m || (m[0] === '\r' && m.index === buf.length - 1)) return;
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === '') {
        if (cur.id !== undefined) client.lastEventId = cur.id;
        if (cur.data.length > 0)
          ready.push({ id: cur.id, event: cur.event ?? 'message', data: cur.data.join('\n') });
        cur = { data: [] };
        continue;
      }
      if (line.startsWith(':')) {
        client.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') cur.id = value;
      else if (field === 'event') cur.event = value;
      else if (field === 'data') cur.data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) client.retry = Number(value);
    }
  }

  return client;
}

/** The parsed data of a message. */
export function dataOf<T = Record<string, unknown>>(m: SseMessage): T {
  return JSON.parse(m.data) as T;
}

/**
 * One call's messages after its first, the placement (from null to `queued`, written with the call),
 * which must lead and come once: the rest is what the call did after it was placed.
 */
export function afterPlacement(ms: SseMessage[]): SseMessage[] {
  const isPlacement = (m: SseMessage) => {
    if (m.event !== 'status') return false;
    const d = dataOf<{ from: string | null; to: string }>(m);
    return d.from === null && d.to === 'queued';
  };
  const [first, ...rest] = ms;
  if (!first || !isPlacement(first)) {
    throw new Error(`expected the call's placement (null → queued) first, got ${JSON.stringify(first)}`);
  }
  if (rest.some(isPlacement)) throw new Error('the placement was sent more than once');
  return rest;
}
