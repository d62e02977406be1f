import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { CallError } from '../calls/errors.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { loggableError } from '../loggable-error.js';
import { ApiError, fromCallError } from './errors.js';
import { type FieldProblem, fieldPath } from './field-path.js';
import type { AppEnv } from './types.js';

/** One entry a field, with zod's jargon turned into what a client can act on. */
export function zodProblems(err: ZodError): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const issue of err.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        out.push({ field: fieldPath([...issue.path, k]), message: 'is not a known field' });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = 'is required';
    else if (issue.code === 'invalid_type') message = `must be of type ${issue.expected}`;
    else if (issue.code === 'invalid_union' && issue.path.at(-1) === 'voicemail')
      message = "must be { action: 'hangup' } or { action: 'leave_message', message }";
    out.push({ field: fieldPath(issue.path), message });
  }
  return out;
}

export function invalidRequest(problems: FieldProblem[]): ApiError {
  const summary = problems
    .slice(0, 5)
    .map((p) => `${p.field} ${p.message}`)
    .join('; ');
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
  return new ApiError('invalid_request', `Invalid request: ${summary}${more}.`, { fields: problems });
}

/** Renders an ApiError with its extra headers (Retry-After) and the request id already set. */
export function renderError(c: Context<AppEnv>, err: ApiError): Response {
  for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
  return c.json(err.toBody(), err.status as 400);
}

/**
 * Every error leaves as `{ error: { code, message, details? } }`. Unexpected throws become a 500
 * that names the request id (in the body, the X-Request-Id header and the log line) and nothing else;
 * the log line carries the error without the query parameters or row data (the caller's text).
 */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof ApiError) return renderError(c, err);
  if (err instanceof CallError) return renderError(c, fromCallError(err));
  if (err instanceof HTTPException) {
    if (err.status === 413) {
      return renderError(c, new ApiError('payload_too_large', 'The request body is over 64 KB.'));
    }
    if (err.status === 400 || err.status === 415) {
      return renderError(
        c,
        invalidRequest([{ field: '(body)', message: 'must be a JSON object sent as application/json' }]),
      );
    }
  }
  if (isDatabaseUnavailable(err)) {
    // The database is down or restarting: a temporary state the client should retry, not a bug.
    // The request's logger carries its requestId already (request-context.ts): a key never repeats in a line.
    c.get('log').warn({ err: loggableError(err) }, 'database unavailable');
    return renderError(c, databaseUnavailable());
  }
  const requestId = c.get('requestId');
  c.get('log').error({ err: loggableError(err), method: c.req.method, path: c.req.path }, 'unhandled error');
  return renderError(
    c,
    new ApiError('internal_error', `Internal error; quote request id ${requestId} when reporting it.`, {
      requestId,
    }),
  );
};

function databaseUnavailable(): ApiError {
  return new ApiError(
    'service_unavailable',
    'The database is unreachable (down or restarting); retry in a few seconds.',
    { missing: [{ name: 'database', detail: 'the database does not answer' }] },
    { 'Retry-After': '5' },
  );
}

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  renderError(c, new ApiError('not_found', `No route for ${c.req.method} ${c.req.path}.`));
