import type {
  AgentAction,
  DialogueConversation,
  DialogueEngine,
  DialogueMessage,
  NextActionOptions,
} from '../../src/voice/dialogue/types.js';

/** What the benchmark's agent says, whatever the random model generates (see capReplies). */
const REPLY =
  'Sure, I can help with that. I would like a table for two tonight at seven thirty, under the name Smith, please.';

/**
 * REPLY in the pieces a Llama 3 tokenizer gives common English: a word with its leading space, or a
 * run of punctuation. Every one of these words is a single token there.
 */
const REPLY_TOKENS = REPLY.match(/ ?[A-Za-z]+| ?[^\sA-Za-z]+/g) ?? [REPLY];

type NextAction = (messages: readonly DialogueMessage[], o: NextActionOptions) => Promise<AgentAction>;

/**
 * Random weights say noise and never close the reply's JSON string, so every reply would run to
 * maxTokens. For the benchmark each token the model generates releases the next token of REPLY
 * (node-llama-cpp reports text a token at a time), so speech starts and lasts as a real reply of
 * that length would, at the model's own pace; the reply ends after `maxWords` words, where
 * generation is aborted, which is what a real model's short reply looks like to the rest of the
 * pipeline. The post-call summary is bounded by `summaryMs` for the same reason (its failure leaves
 * `extracted` null, which the agent handles).
 */
function capped(inner: NextAction, maxWords: number): NextAction {
  return async (messages, o) => {
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort(o.signal?.reason);
    if (o.signal?.aborted) ac.abort(o.signal.reason);
    o.signal?.addEventListener('abort', onOuterAbort, { once: true });
    let said = '';
    let released = 0;
    let done = false;
    try {
      await inner(messages, {
        signal: ac.signal,
        onSay: () => {
          if (done) return;
          const next = REPLY_TOKENS[released++] ?? '';
          said += next;
          if (next) o.onSay?.(next);
          if (released >= REPLY_TOKENS.length || said.trim().split(/\s+/).length >= maxWords) {
            done = true;
            ac.abort('reply cap');
          }
        },
      });
      return { action: 'speak', say: (said || REPLY).trim() } satisfies AgentAction;
    } catch (err) {
      if (done && !o.signal?.aborted) return { action: 'speak', say: said.trim() } satisfies AgentAction;
      throw err;
    } finally {
      o.signal?.removeEventListener('abort', onOuterAbort);
    }
  };
}

export function capReplies(
  inner: DialogueEngine,
  opts: { maxWords: number; summaryMs: number },
): DialogueEngine {
  return {
    name: `${inner.name} (capped)`,
    nextAction: capped((m, o) => inner.nextAction(m, o), opts.maxWords),
    openConversation: inner.openConversation
      ? (): DialogueConversation => {
          const conv = inner.openConversation!();
          return {
            prepare: (m, po) => conv.prepare(m, po),
            nextAction: capped((m, o) => conv.nextAction(m, o), opts.maxWords),
            tokenUsage: conv.tokenUsage ? () => conv.tokenUsage!() : undefined,
            close: () => conv.close(),
          };
        }
      : undefined,
    completeJson(messages, schema, o) {
      const signal = o?.signal
        ? AbortSignal.any([o.signal, AbortSignal.timeout(opts.summaryMs)])
        : AbortSignal.timeout(opts.summaryMs);
      return inner.completeJson(messages, schema, { signal });
    },
    close: () => inner.close(),
  };
}
