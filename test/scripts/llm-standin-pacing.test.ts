import { afterEach, describe, expect, it, vi } from 'vitest';
import { type LlmStandin, type LlmStandinOptions, startLlmStandin } from '../../scripts/lib/llm-standin.js';
import { silentLogger } from '../../src/logger.js';
import { AGENT_ACTION_SCHEMA } from '../../src/voice/dialogue/action-schema.js';
import { createOpenAiCompatibleDialogue } from '../../src/voice/dialogue/openai-compatible.js';
import type { DialogueMessage } from '../../src/voice/dialogue/types.js';

const SUMMARY_SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string' } },
  required: ['summary'],
};

/** A call's history after `replies` agent replies, ending with the callee's line. */
function history(replies: number): DialogueMessage[] {
  const out: DialogueMessage[] = [{ role: 'system', content: 'Book a table for two tonight.' }];
  for (let i = 0; i < replies; i++) {
    out.push({ role: 'user', content: `Line ${i} of the callee.` });
    out.push({ role: 'assistant', content: `Reply ${i} of the agent.` });
  }
  out.push({ role: 'user', content: 'Anything else?' });
  return out;
}

const body = (messages: DialogueMessage[], name: string, schema: object) =>
  JSON.stringify({
    messages,
    stream: true,
    response_format: { type: 'json_schema', json_schema: { name, schema } },
  });

/**
 * POSTs a streamed request and reads its SSE events; each content piece and the end are pushed to
 * `order` as `${tag}:first` / `${tag}:done`, so tests compare streams by what came first.
 */
async function stream(
  url: string,
  payload: string,
  opts: { tag?: string; order?: string[]; signal?: AbortSignal; onPiece?: () => void } = {},
): Promise<{ pieces: string[]; finished: boolean }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: payload,
    signal: opts.signal,
  });
  const pieces: string[] = [];
  let finished = false;
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl = buffered.indexOf('\n\n');
    while (nl >= 0) {
      const data = buffered.slice(0, nl).replace(/^data: /, '');
      buffered = buffered.slice(nl + 2);
      nl = buffered.indexOf('\n\n');
      if (data === '[DONE]') {
        finished = true;
        opts.order?.push(`${opts.tag}:done`);
        continue;
      }
      const piece = JSON.parse(data).choices[0].delta.content as string | undefined;
      if (!piece) continue;
      if (pieces.length === 0) opts.order?.push(`${opts.tag}:first`);
      pieces.push(piece);
      opts.onPiece?.();
    }
  }
  return { pieces, finished };
}

describe('LLM stand-in pacing', () => {
  const started: LlmStandin[] = [];
  const start = async (o: LlmStandinOptions) => {
    const s = await startLlmStandin(o);
    started.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });

  it('with endAfter null speaks every turn, a reply of 12 to 20 words in token-sized pieces', async () => {
    const s = await start({ endAfter: null, ttftMs: 0, tokensPerSecond: 2000 });
    const says = new Set<string>();
    for (let replies = 0; replies < 8; replies++) {
      const { pieces, finished } = await stream(
        s.url,
        body(history(replies), 'agent_action', AGENT_ACTION_SCHEMA),
      );
      expect(finished).toBe(true);
      const text = pieces.join('');
      // Token-sized pieces: as many as a ~4-character tokenizer gives, so longer answers take more.
      expect(pieces.length).toBe(Math.ceil(Array.from(text).length / 4));
      const action = JSON.parse(text);
      expect(action.action).toBe('speak');
      const words = action.say.split(/\s+/).length;
      expect(words).toBeGreaterThanOrEqual(12);
      expect(words).toBeLessThanOrEqual(20);
      says.add(action.say);
    }
    // Varied lines, as a conversation's replies are.
    expect(says.size).toBeGreaterThan(3);

    const summary = await stream(s.url, body(history(2), 'result', SUMMARY_SCHEMA));
    expect(summary.finished).toBe(true);
    expect(JSON.parse(summary.pieces.join('')).summary).toMatch(/\w+ \w+/);
    expect(summary.pieces.length).toBe(Math.ceil(Array.from(summary.pieces.join('')).length / 4));
    expect(s.requests).toBe(9);
    expect(s.pending).toBe(0);
  });

  it('a later first token and a lower rate make an answer come later than an otherwise equal one', async () => {
    const fast = await start({ endAfter: null, ttftMs: 0, tokensPerSecond: 5000 });
    const lateFirst = await start({ endAfter: null, ttftMs: 3000, tokensPerSecond: 5000 });
    const slowRate = await start({ endAfter: null, ttftMs: 0, tokensPerSecond: 10 });
    const order: string[] = [];
    const payload = body(history(0), 'agent_action', AGENT_ACTION_SCHEMA);
    const [a, b, c] = await Promise.all([
      stream(fast.url, payload, { tag: 'fast', order }),
      stream(lateFirst.url, payload, { tag: 'lateFirst', order }),
      stream(slowRate.url, payload, { tag: 'slowRate', order }),
    ]);
    // The same answer from each.
    expect(b.pieces.join('')).toBe(a.pieces.join(''));
    expect(c.pieces.join('')).toBe(a.pieces.join(''));
    expect(a.pieces.length).toBeGreaterThan(20);
    // The fast answer is complete before the late one has its first token...
    expect(order.indexOf('fast:done')).toBeLessThan(order.indexOf('lateFirst:first'));
    // ...and before the slow one is complete, though both started at once.
    expect(order.indexOf('fast:done')).toBeLessThan(order.indexOf('slowRate:done'));
    expect(order.indexOf('slowRate:first')).toBeLessThan(order.indexOf('lateFirst:first'));
  });

  it('a request the client aborts leaves no timer behind, and close() resolves', async () => {
    const s = await start({ endAfter: null, ttftMs: 0, tokensPerSecond: 1 });
    const payload = body(history(1), 'agent_action', AGENT_ACTION_SCHEMA);
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const ac = new AbortController();
    const read = stream(s.url, payload, { signal: ac.signal, onPiece: () => ac.abort() });
    await expect(read).rejects.toThrow();
    await vi.waitFor(() => expect(s.aborted).toBe(1), { timeout: 10_000 });
    expect(s.pending).toBe(0);
    expect(timeouts()).toBeLessThanOrEqual(before);
    // At a token a second the answer's ~28 pieces would take half a minute: streaming stopped at the abort.
    expect(s.tokens).toBeLessThan(20);
    await s.close();
  });

  it('the OpenAI-compatible dialogue gets speak actions from it, its say in several deltas', async () => {
    const s = await start({ endAfter: null, ttftMs: 20, tokensPerSecond: 400 });
    const engine = createOpenAiCompatibleDialogue({ url: s.url, logger: silentLogger() });
    try {
      for (let replies = 0; replies < 4; replies++) {
        const deltas: string[] = [];
        const action = await engine.nextAction(history(replies), { onSay: (d) => deltas.push(d) });
        expect(action.action).toBe('speak');
        expect(deltas.length).toBeGreaterThan(3);
        expect(deltas.join('')).toBe(action.say);
      }
      const summary = (await engine.completeJson(history(2), SUMMARY_SCHEMA)) as { summary: string };
      expect(summary.summary.length).toBeGreaterThan(10);
    } finally {
      await engine.close();
    }
  });

  it('without endAfter it ends the call as the trial and the batch test expect', async () => {
    const s = await start({ turns: 2 });
    const engine = createOpenAiCompatibleDialogue({ url: s.url, logger: silentLogger() });
    try {
      expect((await engine.nextAction(history(0), {})).action).toBe('speak');
      expect(await engine.nextAction(history(1), {})).toMatchObject({
        action: 'end',
        outcome: 'objective_met',
      });
    } finally {
      await engine.close();
    }
  });
});
