import type { CallError } from '../calls/errors.js';

/** The error tokens of the spec, with the HTTP status each one answers with. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  call_already_ended: 409,
  dnc_deployment_list: 409,
  batch_already_ended: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  invalid_number: 422,
  destination_not_allowed: 422,
  destination_blocked: 422,
  caller_id_not_owned: 422,
  no_caller_id: 422,
  outside_calling_hours: 422,
  rate_limited: 429,
  usage_cap_reached: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** An error meant for the client: thrown anywhere below the routes, rendered by the error handler. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** The HTTP face of a refusal of the calls domain. */
export function fromCallError(err: CallError): ApiError {
  return new ApiError(
    err.code === 'account_not_found' || err.code === 'account_disabled' ? 'unauthorized' : err.code,
    err.message,
    err.details,
    err.retryAfterSeconds === undefined ? undefined : { 'Retry-After': String(err.retryAfterSeconds) },
  );
}
