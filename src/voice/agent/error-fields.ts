import { DialogueOutputError } from '../dialogue/action-schema.js';

/**
 * How an error goes into a log line: `{ err }` (pino keeps the stack), except a DialogueOutputError,
 * whose `output` is the model's text and may repeat the callee's words: only its message then.
 */
export function errorFields(err: unknown): Record<string, unknown> {
  return err instanceof DialogueOutputError ? { reason: err.message } : { err };
}
