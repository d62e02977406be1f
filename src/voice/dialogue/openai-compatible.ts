import type { Logger } from '../../logger.js';
import {
  ACTION_FORMAT_HINT,
  AGENT_ACTION_SCHEMA,
  abortError,
  DialogueOutputError,
  parseAgentAction,
  withFormatHint,
} from './action-schema.js';
import { SayExtractor } from './say-extractor.js';
import type { AgentAction, DialogueEngine, DialogueMessage, JsonSchema } from './types.js';

export interface OpenAiCompatibleOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8081 (llama.cpp's llama-server); `/v1/...` is appended. */
  url: string;
  /** Sent as a bearer token when set. */
  apiKey?: string;
  /** The `model` field; llama-server ignores it. */
  model?: string;
  logger: Logger;
  /** Give up connecting/answering after this long (ms). Default 30 s. */
  timeoutMs?: number;
  maxTokens?: number;
  temperature?: number;
}

/**
 * Dialogue through an OpenAI-compatible chat completions server (llama.cpp's server, vLLM, …):
 * streamed (SSE) with a json_schema response format, so `say` streams as it is generated.
 */
export function createOpenAiCompatibleDialogue(opts: OpenAiCompatibleOptions): DialogueEngine {
  const log = opts.logger.child({ engine: 'openai-compatible' });
  const endpoint = new URL('v1/chat/completions', opts.url.endsWith('/') ? opts.url : `${opts.url}/`).href;
  const controllers = new Set<AbortController>();
  let closed = false;
  // Background work (the post-call summary) is sent only while no reply is being written: a live
  // call's turn must not share the server with it. Once sent, it runs to its end.
  let turnsInFlight = 0;
  const idleWaiters = new Set<() => void>();
  const turnDone = () => {
    turnsInFlight--;
    if (turnsInFlight === 0) for (const w of [...idleWaiters]) w();
  };
  const whenNoTurns = (signal?: AbortSignal): Promise<void> => {
    if (turnsInFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const go = () => {
        idleWaiters.delete(go);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        idleWaiters.delete(go);
        reject(abortError(signal?.reason));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      idleWaiters.add(go);
    });
  };

  const complete = async (
    messages: readonly DialogueMessage[],
    schema: JsonSchema,
    name: string,
    o: { signal?: AbortSignal; onText?: (chunk: string) => void; maxTokens?: number },
  ): Promise<string> => {
    if (closed) throw new Error('openai-compatible: engine is closed');
    if (o.signal?.aborted) throw abortError(o.signal.reason);
    const ac = new AbortController();
    controllers.add(ac);
    const onAbort = () => ac.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new Error('timeout')), opts.timeoutMs ?? 30_000);
    try {
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          signal: ac.signal,
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
          },
          body: JSON.stringify({
            model: opts.model ?? 'default',
            messages,
            stream: true,
            temperature: opts.temperature ?? 0,
            max_tokens: o.maxTokens ?? opts.maxTokens ?? 512,
            response_format: { type: 'json_schema', json_schema: { name, strict: true, schema } },
          }),
        });
      } catch (err) {
        if (o.signal?.aborted) throw abortError(o.signal.reason);
        if (ac.signal.aborted) throw new Error(`openai-compatible: ${endpoint} did not answer in time`);
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new Error(
          `openai-compatible: cannot reach ${endpoint}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        );
      }
      if (!res.ok) {
        const body = (await res.text().catch(() => '')).slice(0, 300);
        throw new Error(`openai-compatible: ${endpoint} answered HTTP ${res.status}: ${body}`);
      }
      if (!res.body) throw new Error(`openai-compatible: ${endpoint} sent no body`);
      let text = '';
      let buffered = '';
      const decoder = new TextDecoder();
      const handleEvent = (data: string): boolean => {
        if (data === '[DONE]') return true;
        let evt: { choices?: { delta?: { content?: string | null } }[]; error?: { message?: string } };
        try {
          evt = JSON.parse(data);
        } catch {
          throw new Error(
            `openai-compatible: the server sent a malformed stream event: ${data.slice(0, 120)}`,
          );
        }
        if (evt.error)
          throw new Error(`openai-compatible: the server reported: ${evt.error.message ?? 'error'}`);
        const piece = evt.choices?.[0]?.delta?.content;
        if (piece) {
          text += piece;
          o.onText?.(piece);
        }
        return false;
      };
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).replace(/\r$/, '');
            buffered = buffered.slice(nl + 1);
            if (line.startsWith('data:') && handleEvent(line.slice(5).trim())) return text;
            nl = buffered.indexOf('\n');
          }
        }
      } catch (err) {
        if (o.signal?.aborted) throw abortError(o.signal.reason);
        throw err;
      }
      const last = buffered.trim();
      if (last.startsWith('data:')) handleEvent(last.slice(5).trim());
      return text;
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      controllers.delete(ac);
    }
  };

  const parse = (raw: string): unknown => {
    try {
      return JSON.parse(raw);
    } catch {
      throw new DialogueOutputError('the model returned malformed JSON', raw);
    }
  };

  log.info({ url: opts.url }, 'dialogue via OpenAI-compatible server');
  return {
    name: 'openai-compatible',
    async nextAction(messages, o): Promise<AgentAction> {
      const say = new SayExtractor();
      turnsInFlight++;
      let raw: string;
      try {
        raw = await complete(
          withFormatHint(messages, ACTION_FORMAT_HINT),
          AGENT_ACTION_SCHEMA,
          'agent_action',
          {
            signal: o.signal,
            onText: (chunk) => {
              const delta = say.push(chunk);
              if (delta && o.onSay && !o.signal?.aborted) o.onSay(delta);
            },
          },
        );
      } finally {
        turnDone();
      }
      return parseAgentAction(parse(raw), raw);
    },
    async completeJson(messages, schema, o = {}): Promise<unknown> {
      if (o.priority === 'background') await whenNoTurns(o.signal);
      return parse(await complete(messages, schema, 'result', { signal: o.signal, maxTokens: o.maxTokens }));
    },
    async close(): Promise<void> {
      closed = true;
      for (const ac of controllers) ac.abort();
    },
  };
}
