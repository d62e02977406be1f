/**
 * How fast the dialogue model writes replies on this machine, from the replies themselves. A phone
 * agent needs roughly 20 tokens a second or more: below that the callee waits a second or longer
 * for every answer, and nothing else in the log says why (the bench measured 9-15 tokens/s with the
 * Llama-3.2-1B shape on one 2-core machine and p50 replies near 1 s, 21-25 and 0.66 s on another).
 */
export interface SpeedWatch {
  /** One reply: tokens written and the time from its first text to its end (ms). */
  record(generatedTokens: number, writingMs: number): void;
  /** The median speed of the recent replies (tokens/s), or null before there are enough. */
  tokensPerSecond(): number | null;
}

/** Replies shorter than this say little about speed (the first token's time is not in `writingMs`). */
const MIN_TOKENS = 4;

export function createSpeedWatch(o: {
  /** Below this median, `onSlow` is called (once). */
  minTokensPerSecond: number;
  /** Replies the median is taken over. Default 3. */
  window?: number;
  onSlow(tokensPerSecond: number): void;
}): SpeedWatch {
  const window = o.window ?? 3;
  const recent: number[] = [];
  let warned = false;

  const median = (): number | null => {
    if (recent.length < window) return null;
    const sorted = [...recent].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  };

  return {
    record(generatedTokens, writingMs) {
      if (generatedTokens < MIN_TOKENS || writingMs <= 0) return;
      recent.push(((generatedTokens - 1) * 1000) / writingMs);
      if (recent.length > window) recent.shift();
      const m = median();
      if (!warned && m !== null && m < o.minTokensPerSecond) {
        warned = true;
        o.onSlow(m);
      }
    },
    tokensPerSecond: median,
  };
}
