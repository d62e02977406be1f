import type { AgentAction, DialogueEngine } from '../../src/voice/dialogue/types.js';

/** What the benchmark's agent says, whatever the random model generates (see capReplies). */
const REPLY =
  'Sure, I can help with that. I would like a table for two tonight at seven thirty, under the name Smith, please.';

/**
 * Random weights never close the reply's JSON string, so every reply would run to maxTokens and fail.
 * For the benchmark the model's tokens pace a real sentence (REPLY), which the agent speaks, and the reply
 * ends after `maxWords` words: generation is aborted there and the released words are the action, which
 * is what a real model's short reply looks like to the rest of the pipeline. The post-call summary is bounded by `summaryMs` for the same reason (its
 * failure leaves `extracted` null, which the agent handles).
 */
export function capReplies(
  inner: DialogueEngine,
  opts: { maxWords: number; summaryMs: number },
): DialogueEngine {
  return {
    name: `${inner.name} (capped)`,
    async nextAction(messages, o) {
      const ac = new AbortController();
      const onOuterAbort = () => ac.abort(o.signal?.reason);
      if (o.signal?.aborted) ac.abort(o.signal.reason);
      o.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let said = '';
      let generated = 0;
      let capped = false;
      try {
        await inner.nextAction(messages, {
          signal: ac.signal,
          onSay: (delta) => {
            if (capped) return;
            // Random weights emit unpronounceable characters, one token each; a real tokenizer spends a token
            // on about four characters of a real reply. So each generated token releases the next four
            // characters of REPLY: speech starts and lasts as a real reply's would, at the model's own pace.
            generated += delta.length;
            const next = REPLY.slice(said.length, Math.min(REPLY.length, generated * 4));
            said += next;
            if (next) o.onSay?.(next);
            if (said.length >= REPLY.length || said.trim().split(/\s+/).length >= opts.maxWords) {
              capped = true;
              ac.abort('reply cap');
            }
          },
        });
        return { action: 'speak', say: said || REPLY } satisfies AgentAction;
      } catch (err) {
        if (capped && !o.signal?.aborted) return { action: 'speak', say: said } satisfies AgentAction;
        throw err;
      } finally {
        o.signal?.removeEventListener('abort', onOuterAbort);
      }
    },
    completeJson(messages, schema, o) {
      const signal = o?.signal
        ? AbortSignal.any([o.signal, AbortSignal.timeout(opts.summaryMs)])
        : AbortSignal.timeout(opts.summaryMs);
      return inner.completeJson(messages, schema, { signal });
    },
    close: () => inner.close(),
  };
}
