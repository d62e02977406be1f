/**
 * Why the calls domain refused a request. The codes are the spec's error tokens (REST and MCP
 * callers see the same words); only `account_not_found` and `account_disabled` are the domain's own
 * (the API answers them as `unauthorized`). Which HTTP status each one is belongs to `src/api`, not here.
 */
export type CallErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'account_not_found'
  | 'account_disabled'
  | 'idempotency_conflict'
  | 'call_already_ended'
  | 'batch_already_ended'
  | 'invalid_number'
  | 'destination_not_allowed'
  | 'destination_blocked'
  | 'caller_id_not_owned'
  | 'no_caller_id'
  | 'outside_calling_hours'
  | 'rate_limited'
  | 'usage_cap_reached'
  | 'service_unavailable';

export class CallError extends Error {
  constructor(
    readonly code: CallErrorCode,
    message: string,
    readonly details?: unknown,
    /** When a retry can succeed (a rate limit): the API turns it into Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

/** A request field the domain refused beyond the schema; `details` has the same shape as a schema 400. */
export function invalidField(field: string, message: string): CallError {
  return new CallError('invalid_request', `Invalid request: ${field} ${message}.`, {
    fields: [{ field, message }],
  });
}
