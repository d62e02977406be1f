// A stand-in for an OpenAI-compatible chat completions server (llama.cpp's server, vLLM), for runs of the
// telephony path where no language model runs: the Asterisk trial, the batch test and benchmarks. It
// answers POST /v1/chat/completions as llama.cpp's server does for agentline's requests: streamed (SSE)
// JSON that fits the request's json_schema. For the agent's actions (schema name `agent_action`) it says
// a few fixed lines and then ends the call `objective_met`, or hands the call over when the schema offers
// a `transfer` action and the caller asks for it. Every other request (summary, extraction) gets the
// smallest value its schema allows, with a plain summary sentence.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmStandinOptions {
  port?: number;
  /** The Nth agent action ends the call (the first N-1 speak); default 3. */
  turns?: number;
  /** When the schema has a transfer action, the Nth agent action is a transfer instead; default 2. */
  transferAt?: number;
  /** Told of each answer (the trial prints them). */
  onAnswer?: (schemaName: string, text: string) => void;
}

export interface LlmStandin {
  /** `http://127.0.0.1:PORT` (what LLM_URL takes). */
  url: string;
  /** Requests answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

type Schema = Record<string, unknown>;
interface Message {
  role: string;
  content: string;
}

const LINES = [
  'Hi, this is the assistant from Doctor Lee’s office, calling to confirm your appointment tomorrow at ten.',
  'Great. So that is tomorrow at ten in the morning, is that right?',
  'Perfect, thank you. Have a nice day, goodbye.',
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
function agentAction(messages: Message[], schema: Schema, turns: number, transferAt: number): unknown {
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
  if (said + 1 >= turns) return { say: LINES[2], action: 'end', outcome: 'objective_met' };
  return { say: LINES[Math.min(said, 1)], action: 'speak' };
}

/** Starts the stand-in on 127.0.0.1. */
export function startLlmStandin(opts: LlmStandinOptions = {}): Promise<LlmStandin> {
  const turns = opts.turns ?? 3;
  const transferAt = opts.transferAt ?? 2;
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: {
        messages?: Message[];
        stream?: boolean;
        response_format?: { json_schema?: { name?: string; schema?: Schema } };
      };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
        return;
      }
      requests++;
      const rf = body.response_format?.json_schema;
      const schema = rf?.schema ?? { type: 'object', properties: {} };
      const value =
        rf?.name === 'agent_action'
          ? agentAction(body.messages ?? [], schema, turns, transferAt)
          : instance(schema);
      const text = JSON.stringify(value);
      opts.onAnswer?.(rf?.name ?? 'plain', text);
      if (body.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: text } }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      // Streamed in pieces a few characters long, as a model writes tokens, so agentline speaks the first
      // clause before the rest has arrived.
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        if (i >= text.length) {
          clearInterval(timer);
          timers.delete(timer);
          res.write(
            `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
          );
          res.end('data: [DONE]\n\n');
          return;
        }
        const piece = text.slice(i, i + 6);
        i += 6;
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
      }, 4);
      timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    });
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
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearInterval(t);
            timers.clear();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
