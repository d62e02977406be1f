import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createOpenAiCompatibleDialogue } from '../../src/voice/dialogue/openai-compatible.js';
import type { DialogueMessage } from '../../src/voice/dialogue/types.js';

type Handler = (req: http.IncomingMessage, body: any, res: http.ServerResponse) => void;

/** Streams `text` as llama-server does: one SSE event per piece, then [DONE]. */
function sse(res: http.ServerResponse, pieces: string[], opts: { done?: boolean; gapMs?: number } = {}) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    if (i < pieces.length) {
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: pieces[i++] } }] })}\n\n`);
      setTimeout(next, opts.gapMs ?? 1);
    } else {
      if (opts.done !== false) res.write('data: [DONE]\n\n');
      res.end();
    }
  };
  next();
}

const messages: DialogueMessage[] = [
  { role: 'system', content: 'Book a table.' },
  { role: 'user', content: 'Hello?' },
];

describe('OpenAI-compatible dialogue', () => {
  let server: http.Server;
  let url: string;
  let handler: Handler;
  const seen: { headers: http.IncomingHttpHeaders; body: any }[] = [];
  beforeEach(async () => {
    seen.length = 0;
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const body = JSON.parse(raw);
        seen.push({ headers: req.headers, body });
        handler(req, body, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('streams say deltas from the SSE stream and returns the action', async () => {
    handler = (_req, _body, res) =>
      sse(res, [
        '{"action":"end",',
        '"outcome":"objective_met",',
        '"say":"Thanks, ',
        'see you at \\"7\\".',
        '"}',
      ]);
    const engine = createOpenAiCompatibleDialogue({ url, apiKey: 'sk-test', logger: silentLogger() });
    const deltas: string[] = [];
    const action = await engine.nextAction(messages, { onSay: (d) => deltas.push(d) });
    expect(action).toEqual({ action: 'end', outcome: 'objective_met', say: 'Thanks, see you at "7".' });
    expect(deltas).toEqual(['Thanks, ', 'see you at "7".']);
    const req = seen[0];
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body.stream).toBe(true);
    expect(req.body.response_format.type).toBe('json_schema');
    expect(
      req.body.response_format.json_schema.schema.oneOf.map((b: any) => b.properties.action.const),
    ).toEqual(['speak', 'dtmf', 'end', 'transfer']);
    expect(req.body.messages[0].content).toMatch(/^Book a table\.\n\n.*one JSON object/s);
    await engine.close();
  });

  it('completeJson returns the parsed object and sends the caller schema', async () => {
    handler = (_req, _body, res) => sse(res, ['{"name":null,', '"partySize":2,"confirmed":true}']);
    const engine = createOpenAiCompatibleDialogue({ url, logger: silentLogger() });
    const schema = { type: 'object', properties: { partySize: { type: ['number', 'null'] } } };
    expect(await engine.completeJson(messages, schema)).toEqual({
      name: null,
      partySize: 2,
      confirmed: true,
    });
    expect(seen[0].headers.authorization).toBeUndefined();
    expect(seen[0].body.response_format.json_schema.schema).toEqual(schema);
  });

  it('reports an HTTP error with its status and body', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"model crashed"}}');
    };
    const engine = createOpenAiCompatibleDialogue({ url, logger: silentLogger() });
    await expect(engine.nextAction(messages, {})).rejects.toThrow(/HTTP 500: .*model crashed/);
  });

  it('reports malformed stream events and malformed JSON output', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {not json\n\n');
    };
    const engine = createOpenAiCompatibleDialogue({ url, logger: silentLogger() });
    await expect(engine.nextAction(messages, {})).rejects.toThrow(/malformed stream event/);
    handler = (_req, _body, res) => sse(res, ['{"action":"speak","say":"cut off']);
    await expect(engine.nextAction(messages, {})).rejects.toThrow(/malformed JSON/);
    handler = (_req, _body, res) => sse(res, ['{"action":"dance","say":"x"}']);
    await expect(engine.nextAction(messages, {})).rejects.toThrow(/unknown action "dance"/);
  });

  it('fails clearly when nothing listens', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const engine = createOpenAiCompatibleDialogue({
      url: `http://127.0.0.1:${port}`,
      logger: silentLogger(),
    });
    await expect(engine.nextAction(messages, {})).rejects.toThrow(/cannot reach .*ECONNREFUSED/);
  });

  it('aborts mid-stream on barge-in', async () => {
    const pieces = ['{"action":"speak","say":"', ...Array.from({ length: 200 }, () => 'word '), '"}'];
    handler = (_req, _body, res) => sse(res, pieces, { gapMs: 5 });
    const engine = createOpenAiCompatibleDialogue({ url, logger: silentLogger() });
    const ac = new AbortController();
    const deltas: string[] = [];
    const p = engine.nextAction(messages, {
      signal: ac.signal,
      onSay: (d) => {
        deltas.push(d);
        if (deltas.length === 2) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(deltas).toHaveLength(2);
  });

  it('sends background work (the post-call summary) only once no reply is being written', async () => {
    let releaseTurn = () => {};
    handler = (_req, body, res) => {
      if (body.response_format.json_schema.name === 'agent_action') {
        releaseTurn = () => sse(res, ['{"action":"speak","say":"One moment."}']);
        return;
      }
      sse(res, ['{"ok":true}']);
    };
    const engine = createOpenAiCompatibleDialogue({ url, logger: silentLogger() });
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    const turn = engine.nextAction(messages, {});
    await expect.poll(() => seen.length).toBe(1);
    const summary = engine.completeJson([{ role: 'user', content: 'background' }], schema, {
      priority: 'background',
    });
    // A request of normal priority goes through meanwhile: the server is reachable, the summary waits.
    expect(await engine.completeJson([{ role: 'user', content: 'normal' }], schema)).toEqual({ ok: true });
    const contents = () => seen.map((r) => r.body.messages.at(-1).content);
    expect(contents()).not.toContain('background');
    releaseTurn();
    await turn;
    expect(await summary).toEqual({ ok: true });
    expect(contents().at(-1)).toBe('background');
  });
});
