/** The dialogue model's contract: it chooses the agent's next action through constrained output. */

export interface DialogueMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * What the agent does next. The JSON the model generates has `action` first so that, while `say`
 * streams, the action is already known.
 */
export type AgentAction =
  | { action: 'speak'; say: string }
  | { action: 'dtmf'; digits: string; say: string }
  | { action: 'end'; outcome: 'objective_met' | 'objective_impossible'; say: string };

/** A JSON schema (the subset node-llama-cpp's grammar builder accepts). */
export type JsonSchema = Record<string, unknown>;

export interface DialogueEngine {
  readonly name: string;
  /**
   * Generates the next action. `onSay` receives the `say` text as it is generated (deltas, in order),
   * so speech can start on the first clause; the resolved action is the whole, validated one.
   * Rejects with an AbortError when `signal` aborts (barge-in).
   */
  nextAction(
    messages: readonly DialogueMessage[],
    opts: { signal?: AbortSignal; onSay?: (delta: string) => void },
  ): Promise<AgentAction>;
  /** One JSON value constrained by `schema` (post-call summary and extraction). */
  completeJson(
    messages: readonly DialogueMessage[],
    schema: JsonSchema,
    opts?: { signal?: AbortSignal },
  ): Promise<unknown>;
  close(): Promise<void>;
}
