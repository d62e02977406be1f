// A stand-in for an OpenAI-compatible chat completions server, for trials of the telephony path on a real
// Asterisk where no language model runs. It answers POST /v1/chat/completions as llama.cpp's server does
// for agentline's requests: streamed (SSE) JSON that fits the request's json_schema. For the agent's
// actions (schema name `agent_action`) it says a few fixed lines and then ends the call `objective_met`, or
// hands the call over when the schema offers a `transfer` action and the trial asks for it. Every other
// request (summary, extraction) gets the smallest value its schema allows, with a plain summary sentence.
//
// Usage: npx tsx scripts/asterisk-trial/llm-standin.ts [--port 8091] [--turns 3] [--transfer-at 2]
//   --turns N        the Nth agent action ends the call (the first N-1 speak)
//   --transfer-at N  when the schema has a transfer action, the Nth agent action is a transfer instead
import http from 'node:http';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const port = Number(arg('port', '8091'));
const turns = Number(arg('turns', '3'));
const transferAt = Number(arg('transfer-at', '2'));

const LINES = [
  'Hi, this is the assistant from Doctor Lee’s office, calling to confirm your appointment tomorrow at ten.',
  'Great. So that is tomorrow at ten in the morning, is that right?',
  'Perfect, thank you. Have a nice day, goodbye.',
];

type Schema = Record<string, unknown>;
interface Message {
  role: string;
  content: string;
}

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
function agentAction(messages: Message[], schema: Schema): unknown {
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
    const rf = body.response_format?.json_schema;
    const schema = rf?.schema ?? { type: 'object', properties: {} };
    const value = rf?.name === 'agent_action' ? agentAction(body.messages ?? [], schema) : instance(schema);
    const text = JSON.stringify(value);
    console.log(`${new Date().toISOString()} ${rf?.name ?? 'plain'} -> ${text}`);
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
        return;
      }
      if (i >= text.length) {
        clearInterval(timer);
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
    res.on('close', () => clearInterval(timer));
  });
});

server.listen(port, '127.0.0.1', () => console.log(`llm stand-in on http://127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
