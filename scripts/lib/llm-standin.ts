// A stand-in for an OpenAI-compatible chat completions server (llama.cpp's server, vLLM), for runs of the
// telephony path where no language model runs: the Asterisk trial, the batch test and benchmarks. It
// answers POST /v1/chat/completions as llama.cpp's server does for agentline's requests: streamed (SSE)
// JSON that fits the request's json_schema, in token-sized pieces after a time to first token and at a
// set rate. For the agent's actions (schema name `agent_action`) it says a few fixed lines and then ends
// the call `objective_met`, or hands the call over when the schema offers a `transfer` action and the
// caller asks for it; with `endAfter: null` (benchmarks) it never ends and speaks lines of a real
// reply's length. Every other request (summary, extraction) gets the smallest value its schema allows,
// with a plain summary sentence.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmStandinOptions {
  port?: number;
  /**
   * The Nth agent action ends the call (the first N-1 speak); default 3. null: no action ends it, each
   * speaks one of a few lines 12 to 20 words long, in turn (benchmarks, where the callee hangs up).
   */
  endAfter?: number | null;
  /** The older name of `endAfter` (a number); `endAfter` wins when both are given. */
  turns?: number;
  /** When the schema has a transfer action, the Nth agent action is a transfer instead; default 2. */
  transferAt?: number;
  /** Delay before the first content piece of an answer, ms; default 0. */
  ttftMs?: number;
  /**
   * Content pieces (about 4 characters, a token of English) per second after the first; default 375,
   * which streams as fast as the stand-in always did.
   */
  tokensPerSecond?: number;
  /** Told of each answer (the trial prints them). */
  onAnswer?: (schemaName: string, text: string) => void;
}

export interface LlmStandin {
  /** `http://127.0.0.1:PORT` (what LLM_URL takes). */
  url: string;
  /** Requests answered so far. */
  readonly requests: number;
  /** Content pieces (tokens) streamed so far, over all requests. */
  readonly tokens: number;
  /** Answers whose client went away before the last piece (a reply cut short or discarded). */
  readonly aborted: number;
  /**
   * ms the stand-in's own handlers ran on the event loop (parsing, answering, each paced write): its
   * share of this process's CPU when it runs inside a benchmark. The HTTP parsing before the handler
   * and socket work libuv does later are not in it.
   */
  readonly busyMs: number;
  /** Answers still waiting on their next piece (each holds one timer). */
  readonly pending: number;
  close(): Promise<void>;
}

type Schema = Record<string, unknown>;
interface Message {
  role: string;
  content: string;
}
interface RequestBody {
  messages?: Message[];
  stream?: boolean;
  response_format?: { json_schema?: { name?: string; schema?: Schema } };
}

const LINES = [
  'Hi, this is the assistant from Doctor Lee’s office, calling to confirm your appointment tomorrow at ten.',
  'Great. So that is tomorrow at ten in the morning, is that right?',
  'Perfect, thank you. Have a nice day, goodbye.',
];

/** A booking call's replies, as long as a model's usual one or two sentences (endAfter null). */
const BENCH_LINES = [
  'Hi, this is the assistant calling for Mr Smith. I would like to book a table for two tonight, please.',
  'Seven thirty would be ideal for us, if you still have a table free at that time.',
  'Lovely. The booking would be under the name Smith, that is S M I T H.',
  'Thank you. Could you also note that one of us may arrive a few minutes late?',
  'Sure, I can hold on for a moment while you check the book.',
  'Great, so that is two people at seven thirty tonight, under Smith. Thanks so much.',
];

/** The smallest value `schema` accepts, `say` and `summary` filled with words (JSON Schema subset agentline sends). */
function instance(schema: Schema, key = ''): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  for (const k of ['anyOf', 'oneOf'] as const) {
    const options = schema[k] as Schema[] | undefined;
    if (options) return instance(options.find((o) => o.type === 'null') ?? options[0], key);
  }
  const type = Array.isArray(schema.type)
    ? schema.type.includes('null')
      ? 'null'
      : schema.type[0]
    : schema.type;
  switch (type) {
    case 'null':
      return null;
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = (schema.required ?? Object.keys(props)) as string[];
      return Object.fromEntries(required.map((k) => [k, instance(props[k] ?? {}, k)]));
    }
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      if (key === 'summary') return 'The assistant called and the callee confirmed the appointment.';
      if (key === 'say') return 'One moment please.';
      return 'n/a';
    default:
      return null;
  }
}

/** The agent's next action: the history's assistant turns count the lines said so far. */
function agentAction(
  messages: Message[],
  schema: Schema,
  endAfter: number | null,
  transferAt: number,
): unknown {
  const said = messages.filter((m) => m.role === 'assistant').length;
  const options = (schema.oneOf ?? schema.anyOf ?? []) as Schema[];
  const transfer = options.find(
    (o) =>
      ((o.properties as Record<string, Schema> | undefined)?.action as Schema | undefined)?.const ===
      'transfer',
  );
  // The schema offers `transfer` on every call; the system prompt says when this call has a person to
  // transfer to (src/voice/agent/prompt.ts), and only then is it chosen.
  const mayTransfer = messages.some(
    (m) => m.role === 'system' && /you may transfer this call/i.test(m.content),
  );
  if (transfer && mayTransfer && said + 1 === transferAt) {
    const value = instance(transfer) as Record<string, unknown>;
    return {
      ...value,
      say: 'Let me put you through to a colleague now, one moment.',
      ...('summary' in value
        ? {
            summary:
              'The callee confirmed the appointment tomorrow at ten and would like to speak to the front desk.',
          }
        : {}),
    };
  }
  if (endAfter === null) return { say: BENCH_LINES[said % BENCH_LINES.length], action: 'speak' };
  if (said + 1 >= endAfter) return { say: LINES[2], action: 'end', outcome: 'objective_met' };
  return { say: LINES[Math.min(said, 1)], action: 'speak' };
}

/** `text` in pieces of about 4 characters (a token of English), never splitting a character. */
function tokenPieces(text: string): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += 4) out.push(chars.slice(i, i + 4).join(''));
  return out;
}

const sse = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/** Starts the stand-in on 127.0.0.1. */
export function startLlmStandin(opts: LlmStandinOptions = {}): Promise<LlmStandin> {
  const endAfter = opts.endAfter !== undefined ? opts.endAfter : (opts.turns ?? 3);
  const transferAt = opts.transferAt ?? 2;
  const ttftMs = opts.ttftMs ?? 0;
  const gapMs = 1000 / (opts.tokensPerSecond ?? 375);
  let requests = 0;
  let tokens = 0;
  let aborted = 0;
  let busyMs = 0;
  const timers = new Set<NodeJS.Timeout>();
  const timed = (fn: () => void) => {
    const t0 = performance.now();
    try {
      fn();
    } finally {
      busyMs += performance.now() - t0;
    }
  };

  const answer = (body: RequestBody, res: http.ServerResponse) => {
    const rf = body.response_format?.json_schema;
    const schema = rf?.schema ?? { type: 'object', properties: {} };
    const value =
      rf?.name === 'agent_action'
        ? agentAction(body.messages ?? [], schema, endAfter, transferAt)
        : instance(schema);
    const text = JSON.stringify(value);
    opts.onAnswer?.(rf?.name ?? 'plain', text);
    const pieces = tokenPieces(text);
    const startedAt = performance.now();
    let sent = 0;
    let timer: NodeJS.Timeout | null = null;
    const schedule = (fn: () => void, ms: number) => {
      timer = setTimeout(
        () => {
          if (timer) timers.delete(timer);
          timer = null;
          timed(fn);
        },
        Math.max(0, ms),
      );
      timers.add(timer);
    };
    res.on('close', () => {
      if (timer) {
        clearTimeout(timer);
        timers.delete(timer);
        timer = null;
      }
      if (!res.writableFinished) aborted++;
    });
    if (body.stream === false) {
      // Written at once when the last piece would have been generated.
      schedule(
        () => {
          if (res.destroyed) return;
          tokens += pieces.length;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: text } }] }));
        },
        ttftMs + (pieces.length - 1) * gapMs,
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // Streamed as a model writes tokens, so agentline speaks the first clause before the rest has arrived.
    // Piece k is due at ttft + k gaps; a timer that fires late (a busy event loop) sends every piece due by
    // then, so the rate stays the server's own, as a remote server's would.
    const tick = () => {
      if (res.destroyed) return;
      const due = Math.floor((performance.now() - startedAt - ttftMs) / gapMs) + 1;
      const upTo = Math.min(pieces.length, Math.max(sent + 1, due));
      let chunk = '';
      tokens += upTo - sent;
      for (; sent < upTo; sent++) chunk += sse({ choices: [{ index: 0, delta: { content: pieces[sent] } }] });
      res.write(chunk);
      if (sent >= pieces.length) {
        res.write(sse({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
        res.end('data: [DONE]\n\n');
        return;
      }
      schedule(tick, startedAt + ttftMs + sent * gapMs - performance.now());
    };
    schedule(tick, ttftMs);
  };

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      timed(() => {
        let body: RequestBody;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
          return;
        }
        requests++;
        answer(body, res);
      }),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        get requests() {
          return requests;
        },
        get tokens() {
          return tokens;
        },
        get aborted() {
          return aborted;
        },
        get busyMs() {
          return busyMs;
        },
        get pending() {
          return timers.size;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
