import { type LlmStandin, startLlmStandin } from '../../scripts/lib/llm-standin.js';
import type { Logger } from '../../src/logger.js';
import { createOpenAiCompatibleDialogue } from '../../src/voice/dialogue/openai-compatible.js';
import type { DialogueEngine } from '../../src/voice/dialogue/types.js';
import type { VoiceBenchArgs } from './args.js';
import type { StepResult } from './call-sweep.js';
import { table } from './stats.js';

/**
 * The calls' dialogue on an OpenAI-compatible server (--llm-url), as a worker with LLM_URL has it. Not
 * wrapped in capReplies: a real model or the stand-in ends its reply itself, at a real reply's length
 * (the cap exists because random weights never do).
 */
export interface RemoteDialogue {
  /** The row label in the call tables, in place of a shape name. */
  label: string;
  /** One line for the bench's header: where the dialogue runs and how fast. */
  describe: string;
  dialogue: DialogueEngine;
  /** The stand-in when --llm-url standin (it runs in this process); null for a real server. */
  standin: LlmStandin | null;
  close(): Promise<void>;
}

export async function openRemoteDialogue(
  args: Pick<VoiceBenchArgs, 'llmUrl' | 'standinTtftMs' | 'standinRate'>,
  logger: Logger,
): Promise<RemoteDialogue> {
  if (!args.llmUrl) throw new Error('openRemoteDialogue: no --llm-url');
  const standin =
    args.llmUrl === 'standin'
      ? await startLlmStandin({
          endAfter: null,
          ttftMs: args.standinTtftMs,
          tokensPerSecond: args.standinRate,
        })
      : null;
  const url = standin?.url ?? args.llmUrl;
  const dialogue = createOpenAiCompatibleDialogue({ url, logger, maxTokens: 256 });
  const settings = `${args.standinTtftMs} ms, ${args.standinRate} tok/s`;
  return {
    label: standin ? `llm-url (standin ${settings})` : `llm-url (${new URL(url).host})`,
    describe: standin
      ? `dialogue on the streaming stand-in at ${url}: ${args.standinTtftMs} ms to the first token, then ${args.standinRate} tokens/s (about 4 characters each), replies of 12 to 20 words, never ending the call; it runs in this process, so its own CPU is inside the CPU figures (its share is printed after the tables)`
      : `dialogue on the OpenAI-compatible server at ${url} (its CPU is not in this process's figures)`,
    dialogue,
    standin,
    close: async () => {
      await dialogue.close();
      await standin?.close();
    },
  };
}

/** What the stand-in had done at one moment (take one before and after a step). */
export interface StandinMark {
  requests: number;
  tokens: number;
  aborted: number;
  busyMs: number;
}

export const markStandin = (s: LlmStandin): StandinMark => ({
  requests: s.requests,
  tokens: s.tokens,
  aborted: s.aborted,
  busyMs: s.busyMs,
});

/**
 * The stand-in's own work per step, beside the step's process CPU: what to subtract from the CPU
 * figures for agentline's part alone.
 */
export function printStandinTable(
  rows: { step: StepResult; before: StandinMark; after: StandinMark }[],
): void {
  console.log(
    "\nThe stand-in's own work (in this process: inside the CPU s/call above). Its handlers' time on the event loop; HTTP parsing and socket writes outside them are not counted",
  );
  console.log(
    table(
      ['calls', 'requests', 'tokens', 'cut short', 'handler CPU s/call', 'share of CPU'],
      rows.map(({ step, before, after }) => {
        const busyS = (after.busyMs - before.busyMs) / 1000;
        const stepCpuS = step.cpuSecondsPerCall * step.calls;
        return [
          step.concurrency,
          after.requests - before.requests,
          after.tokens - before.tokens,
          after.aborted - before.aborted,
          (busyS / step.calls).toFixed(3),
          stepCpuS > 0 ? `${((100 * busyS) / stepCpuS).toFixed(1)} %` : '-',
        ];
      }),
    ),
  );
}
