import type { AgentAction, DialogueEngine } from '../../src/voice/dialogue/types.js';

/**
 * Random weights never close the reply's JSON string, so every reply would run to maxTokens and fail.
 * For the benchmark a reply ends once `say` streamed as many tokens as `maxWords` real words take: generation is aborted there
 * and the streamed words are the action, which is what a real model's short reply looks like to the
 * rest of the pipeline. The post-call summary is bounded by `summaryMs` for the same reason (its
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
      let capped = false;
      try {
        return await inner.nextAction(messages, {
          signal: ac.signal,
          onSay: (delta) => {
            if (capped) return;
            said += delta;
            o.onSay?.(delta);
            // The synthetic vocabulary is one character a token, and spaces are rare in random output, so the
            // cap counts tokens: a real tokenizer spends about 1.3 tokens a word.
            if (said.length >= Math.round(opts.maxWords * 1.3)) {
              capped = true;
              ac.abort('reply cap');
            }
          },
        });
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
