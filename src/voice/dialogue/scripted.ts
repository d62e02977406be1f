import type { AgentAction, DialogueEngine, DialogueMessage, JsonSchema } from './types.js';

export interface ScriptRule {
  /** Tested against the callee's latest words. */
  match: RegExp;
  /** The action, or a function of the match (e.g. to echo a captured time). */
  action: AgentAction | ((m: RegExpMatchArray) => AgentAction);
  /**
   * When true the rule fires at most once per conversation: not when the history already holds its
   * action. (Read from the history, not kept as state: a reply the agent prepared early and dropped
   * must not use the rule up.)
   */
  once?: boolean;
}

/** How `completeJson` fills one property: a regex over the transcript (capture 1, or `true` with no group), or a function. */
export type ExtractRule = RegExp | ((transcript: string) => unknown);

export interface DialogueScript {
  /** The agent's first action (no assistant message yet). A string is spoken. Without it, rules answer from the start. */
  opening?: string | AgentAction;
  rules?: readonly ScriptRule[];
  /** When no rule matches. A string is spoken. */
  fallback?: string | AgentAction;
  /** Property name (anywhere in the requested schema) → how to fill it from the transcript. */
  extract?: Readonly<Record<string, ExtractRule>>;
  /** The `summary` property of a requested schema: fixed text or a function of the transcript. */
  summary?: string | ((transcript: string) => string);
  /** Delay before each streamed `say` delta, ms (default 15): keeps the streaming path honest in tests. */
  deltaDelayMs?: number;
}

function toAction(a: string | AgentAction): AgentAction {
  return typeof a === 'string' ? { action: 'speak', say: a } : a;
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error(`aborted${typeof reason === 'string' ? `: ${reason}` : ''}`);
  err.name = 'AbortError';
  return err;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The callee's words in the latest user message: inside <callee> tags when present, else the whole content. */
function latestCalleeText(messages: readonly DialogueMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== 'user') continue;
    const blocks = [...m.content.matchAll(/<callee>([\s\S]*?)<\/callee>/g)].map((x) => x[1].trim());
    if (blocks.length > 0) return blocks.join(' ');
    if (!/<event>/.test(m.content)) return m.content;
    return '';
  }
  return '';
}

function fillFromSchema(
  schema: JsonSchema,
  key: string | null,
  transcript: string,
  script: DialogueScript,
): unknown {
  if (key === 'summary' && script.summary !== undefined) {
    const summary = typeof script.summary === 'function' ? script.summary(transcript) : script.summary;
    // As a grammar would, the schema's length bound cuts the text.
    return typeof summary === 'string' && typeof schema.maxLength === 'number'
      ? summary.slice(0, schema.maxLength)
      : summary;
  }
  if (key !== null && script.extract && Object.hasOwn(script.extract, key)) {
    const rule = script.extract[key];
    if (typeof rule === 'function') return rule(transcript);
    const m = rule.exec(transcript);
    if (!m) return null;
    return m.length > 1 ? (m[1] ?? null) : true;
  }
  if (schema.type === 'object' && schema.properties && typeof schema.properties === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, sub] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
      out[k] = fillFromSchema(sub, k, transcript, script);
    }
    return out;
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('null')) return null;
  if (types.includes('string')) return '';
  if (types.includes('array')) return [];
  return null;
}

/** Whether an assistant message of `messages` is `action` (as the agent records what it did). */
function inHistory(action: AgentAction, messages: readonly DialogueMessage[]): boolean {
  const fields = (a: Record<string, unknown>) =>
    JSON.stringify([a.action, a.say ?? '', a.digits ?? null, a.outcome ?? null]);
  const wanted = fields(action);
  return messages.some((m) => {
    if (m.role !== 'assistant') return false;
    try {
      return fields(JSON.parse(m.content)) === wanted;
    } catch {
      return false;
    }
  });
}

/**
 * A deterministic dialogue engine for tests and demos: rules over the callee's latest words choose the
 * action, `say` streams word by word with a small delay, and `completeJson` fills the requested schema
 * by rules over the transcript. No model is involved.
 */
export function createScriptedDialogue(script: DialogueScript): DialogueEngine {
  const deltaDelayMs = script.deltaDelayMs ?? 15;
  let closed = false;

  function choose(messages: readonly DialogueMessage[]): AgentAction {
    if (script.opening !== undefined && !messages.some((m) => m.role === 'assistant')) {
      return toAction(script.opening);
    }
    const text = latestCalleeText(messages);
    for (const rule of script.rules ?? []) {
      const m = text.match(rule.match);
      if (!m) continue;
      const action = typeof rule.action === 'function' ? rule.action(m) : rule.action;
      if (rule.once && inHistory(action, messages)) continue;
      return action;
    }
    return toAction(script.fallback ?? "Sorry, I didn't catch that. Could you say it again?");
  }

  return {
    name: 'scripted',
    async nextAction(messages, opts) {
      if (closed) throw new Error('scripted dialogue is closed');
      const action = choose(messages);
      const words = action.say.match(/\S+\s*/g) ?? [];
      for (const w of words) {
        await sleep(deltaDelayMs, opts.signal);
        opts.onSay?.(w);
      }
      if (opts.signal?.aborted) throw abortError(opts.signal);
      return action;
    },
    async completeJson(messages, schema, opts) {
      if (closed) throw new Error('scripted dialogue is closed');
      await sleep(deltaDelayMs, opts?.signal);
      const transcript = messages
        .filter((m) => m.role === 'user')
        .map((m) => m.content)
        .join('\n');
      return fillFromSchema(schema, null, transcript, script);
    },
    async close() {
      closed = true;
    },
  };
}
