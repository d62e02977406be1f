/** The dialogue model's contract: it chooses the agent's next action through constrained output. */

export interface DialogueMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What the agent does next (the model writes `say` first: see AGENT_ACTION_SCHEMA). */
export type AgentAction =
  | { action: 'speak'; say: string }
  | { action: 'dtmf'; digits: string; say: string }
  /**
   * End the call after `say` (a goodbye). `optOut`: the callee asked not to be called again (or to be
   * taken off the list): the number goes on the account's do-not-call list when the call ends.
   */
  | { action: 'end'; outcome: 'objective_met' | 'objective_impossible'; say: string; optOut?: true }
  /**
   * Hand the call to a person (only on a call with a transfer target): `say` is the handover line the
   * callee hears, `summary` the brief the person hears first on a warm transfer.
   */
  | { action: 'transfer'; say: string; summary: string };

/** A JSON schema (the subset node-llama-cpp's grammar builder accepts). */
export type JsonSchema = Record<string, unknown>;

export interface DialogueEngine {
  readonly name: string;
  /**
   * Generates the next action. `onSay` receives the `say` text as it is generated (deltas, in order),
   * so speech can start on the first clause; the resolved action is the whole, validated one.
   * Rejects with an AbortError when `signal` aborts (barge-in).
   */
  nextAction(messages: readonly DialogueMessage[], opts: NextActionOptions): Promise<AgentAction>;
  /**
   * One JSON value constrained by `schema` (post-call summary and extraction). Rejects with a
   * DialogueOutputError (its `raw` holds what was written) when the answer does not close within
   * `maxTokens`, and with an AbortError when `signal` aborts.
   */
  completeJson(
    messages: readonly DialogueMessage[],
    schema: JsonSchema,
    opts?: CompleteJsonOptions,
  ): Promise<unknown>;
  /**
   * A handle for one call's dialogue, for engines that keep state between turns (llama.cpp keeps the
   * call's evaluated prompt in a sequence of its context). Engines without it are stateless per turn.
   */
  openConversation?(): DialogueConversation;
  /**
   * Evaluates `prefix` (the start every call's prompt shares: the fixed instructions) ahead of any
   * call into each idle state the engine keeps, so that no call, the first after start included,
   * waits for it. Resolves when done; it never delays a call (busy or owned state is skipped).
   * Engines that keep no state between requests leave it out.
   */
  warmUp?(prefix: readonly DialogueMessage[]): Promise<void>;
  /**
   * The model's own speed on this machine, from a short probe (a few dozen prompt tokens read, a
   * few generated) on a sequence no live call holds, at background priority: it never delays a
   * call, and a reply that starts meanwhile makes the probe wait (and read slower). For sizing how
   * many calls the worker takes. Engines whose model runs elsewhere leave it out.
   */
  measureSpeed?(opts?: { signal?: AbortSignal }): Promise<DialogueSpeed>;
  close(): Promise<void>;
}

export interface DialogueSpeed {
  /** Tokens a second one sequence generates (a reply's writing). */
  genTokensPerSecond: number;
  /** Tokens a second one sequence reads (a turn's new words, a call's prompt). */
  promptTokensPerSecond: number;
}

export interface CompleteJsonOptions {
  signal?: AbortSignal;
  /** Most tokens the answer may take (default: the engine's reply cap). */
  maxTokens?: number;
  /**
   * `background`: work no one is waiting for on the line (the post-call summary). It yields to every
   * live call's turn: it waits behind them for the model, leaves their cached prompts alone, and never
   * gets the threads a reply gets. Default `normal`.
   */
  priority?: 'normal' | 'background';
}

export interface NextActionOptions {
  signal?: AbortSignal;
  onSay?: (delta: string) => void;
}

export interface PrepareOptions {
  asReply?: boolean;
}

/** One call's dialogue: its turns reuse what earlier turns and `prepare` already evaluated. */
export interface DialogueConversation {
  /**
   * Evaluates `messages` ahead of the next turn, so that turn only pays for what changes: the
   * system prompt while the call rings, the callee's words while they are still speaking. The last
   * message may be an unfinished user message. Best effort: it never throws, a newer call supersedes
   * one not started yet, and `nextAction` waits for one in progress (its work is the turn's prefix).
   * With `asReply` the last user message is finished (the callee fell silent): the engine also reads
   * the start of its own reply, so a `nextAction` on exactly these messages starts writing at once.
   */
  prepare(messages: readonly DialogueMessage[], opts?: PrepareOptions): void;
  nextAction(messages: readonly DialogueMessage[], opts: NextActionOptions): Promise<AgentAction>;
  /**
   * Tokens this call made the model read and write, for engines that count them: `preparedTokens`
   * were read ahead by `prepare`, `evaluatedTokens` by turns while the callee waited (what a turn
   * re-reads shows whether the call's prompt stayed cached).
   */
  tokenUsage?(): { preparedTokens: number; evaluatedTokens: number; generatedTokens: number };
  /** Gives the call's resources back (idempotent). */
  close(): void;
}

/** A conversation for engines without per-call state: every turn goes to `engine.nextAction`. */
export function statelessConversation(engine: DialogueEngine): DialogueConversation {
  return {
    prepare() {},
    nextAction: (messages, opts) => engine.nextAction(messages, opts),
    close() {},
  };
}
