import type { CallRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { ConversationAgent, ConversationTurn } from './call-session.js';

/** What a call's record gets after the line is down. */
export interface CallSummary {
  summary: string | null;
  extracted: Record<string, unknown> | null;
}

export interface SummaryBounds {
  /** The agent's answer is cut off (its model aborted) after this long. */
  timeoutMs: number;
  /** Most tokens the model may write for the summary and the extracted values together. */
  maxTokens: number;
}

/** The post-call bounds when nothing is configured (SUMMARY_TIMEOUT_SECONDS, SUMMARY_MAX_TOKENS). */
export const DEFAULT_SUMMARY_BOUNDS: SummaryBounds = { timeoutMs: 45_000, maxTokens: 384 };

/** After its deadline the agent gets this long to answer with its own fallback before the controller builds one. */
const AGENT_GRACE_MS = 2000;

const NOBODY_SPOKE = 'The call connected but nobody spoke.';
const LAST_WORDS_MAX = 160;

/**
 * A plain record of the call built from the transcript alone, for when no model summary came (the
 * model failed, was too slow, or ran out of tokens). It states facts only and never reads as if a
 * model had judged the call.
 */
export function fallbackSummary(opts: {
  turns: readonly ConversationTurn[];
  endedReason?: string | null;
  extracted?: Record<string, unknown> | null;
}): string {
  const spoken = opts.turns.filter((t) => t.text.trim());
  if (spoken.length === 0) return NOBODY_SPOKE;
  const agent = spoken.filter((t) => t.speaker === 'agent').length;
  const callee = spoken.length - agent;
  const parts = [
    `Automatic summary unavailable; from the transcript: the agent spoke ${times(agent)} and the callee ${times(callee)}.`,
  ];
  const lastCallee = [...spoken].reverse().find((t) => t.speaker === 'callee');
  if (lastCallee) {
    const words = lastCallee.text.trim().replace(/\s+/g, ' ');
    const cut = words.length > LAST_WORDS_MAX ? `${words.slice(0, LAST_WORDS_MAX - 1)}…` : words;
    parts.push(`The callee's last words: "${cut}".`);
  }
  const known = Object.entries(opts.extracted ?? {}).filter(([, v]) => v !== null && v !== undefined);
  if (known.length > 0) {
    parts.push(`Established: ${known.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ')}.`);
  }
  if (opts.endedReason) parts.push(`The call ended: ${opts.endedReason.replaceAll('_', ' ')}.`);
  return parts.join(' ');
}

function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

function allNull(call: CallRow): Record<string, unknown> {
  return Object.fromEntries(call.fields.map((f) => [f.name, null]));
}

/**
 * The agent's summary of a finished call, bounded: the agent is asked to answer within `bounds`, at the
 * model's lowest priority, and its model call is aborted at the deadline. Whatever happens (a slow or
 * failed model, an agent that ignores the deadline, a null summary), a call that had turns gets a summary
 * (the transcript-built fallback at worst) and `extracted` holds every requested field.
 */
export async function summarizeWithin(opts: {
  agent: ConversationAgent;
  call: CallRow;
  turns: readonly ConversationTurn[];
  endedReason: string;
  bounds: SummaryBounds;
  logger: Logger;
}): Promise<CallSummary> {
  const { agent, call, turns, bounds, logger } = opts;
  const deadline = new AbortController();
  const abortTimer = setTimeout(() => deadline.abort(new Error('summary deadline')), bounds.timeoutMs);
  let graceTimer: NodeJS.Timeout | undefined;
  let result: CallSummary | null = null;
  try {
    const answer = agent.summarize(call, turns, {
      signal: deadline.signal,
      timeoutMs: bounds.timeoutMs,
      maxTokens: bounds.maxTokens,
    });
    const late = new Promise<null>((resolve) => {
      graceTimer = setTimeout(() => resolve(null), bounds.timeoutMs + AGENT_GRACE_MS);
    });
    result = await Promise.race([answer, late]);
    if (result === null) {
      answer.catch(() => {});
      logger.warn({ timeoutMs: bounds.timeoutMs }, 'post-call summary did not finish in time');
    }
  } catch (err) {
    logger.error({ err }, 'post-call summary failed');
  } finally {
    clearTimeout(abortTimer);
    clearTimeout(graceTimer);
  }
  const extracted = result?.extracted ?? allNull(call);
  const summary = result?.summary?.trim()
    ? result.summary
    : fallbackSummary({ turns, endedReason: opts.endedReason, extracted });
  return { summary, extracted };
}
