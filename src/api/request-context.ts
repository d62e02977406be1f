import crypto from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../logger.js';
import type { AppEnv } from './types.js';

const CLIENT_ID = /^[A-Za-z0-9._:-]{8,128}$/;
/** A path about one call (the API's and the dashboard's): its line carries the callId, as every line about a call does. */
const CALL_PATH = /\/calls\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\/|$)/i;

/**
 * Gives each request an id (the client's X-Request-Id when it is sane, else a new one), echoes it in
 * the response, and a child logger that carries it; one log line per request, never with headers or body.
 */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && CLIENT_ID.test(incoming) ? incoming : crypto.randomUUID();
    // Every line of a request about one call (its own, an error's, a route's) says which call.
    const callId = CALL_PATH.exec(c.req.path)?.[1];
    const log = logger.child(callId ? { requestId, callId } : { requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    // A handler that built its own Response (the recording stream) bypassed c.header().
    if (!c.res.headers.has('x-request-id')) c.res.headers.set('X-Request-Id', requestId);
    const status = c.res.status;
    const line = {
      method: c.req.method,
      path: c.req.path,
      status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
    // 503 is the service saying it is not ready (no dialogue model, PBX down): a readiness probe
    // polls it every few seconds, so it is a warning, not an error each time.
    if (status === 503) log.warn(line, 'service unavailable');
    else if (status >= 500) log.error(line, 'request failed');
    else log.debug(line, 'request');
  };
}
