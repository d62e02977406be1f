import type { MiddlewareHandler } from 'hono';
import { invalidRequest } from './error-handler.js';
import { ApiError } from './errors.js';
import { unstorableProblems } from './storable-json.js';
import type { AppEnv } from './types.js';

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

export interface JsonBodyLimits {
  maxBytes: number;
  /** Nesting allowed under each top-level field. */
  maxDepth: number;
  /**
   * Also take `multipart/form-data` (read and size-checked here, left unparsed for the route's
   * `parseBody`). Only the routes that take uploads ask for it.
   */
  multipart?: boolean;
}

const tooLarge = (maxBytes: number) =>
  new ApiError(
    'payload_too_large',
    `The request body is over ${maxBytes >= 1024 * 1024 ? `${Math.round(maxBytes / (1024 * 1024))} MB` : `${Math.round(maxBytes / 1024)} KB`}.`,
    {
      limitBytes: maxBytes,
    },
    { Connection: 'close' },
  );

/**
 * Reads a request body once, at most `maxBytes`, whether or not Content-Length is sent (a chunked
 * upload is cut off as soon as it passes the limit), and parses it as JSON. The text is put in Hono's
 * body cache, so the route validators parse what was checked here instead of reading the stream again.
 * Bytes that are not UTF-8, and strings or nesting the database cannot store, are refused here, for
 * every route at once, before any of it reaches a query.
 */
export function jsonBody({
  maxBytes,
  maxDepth,
  multipart = false,
}: JsonBodyLimits): MiddlewareHandler<AppEnv> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body || c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const declared = raw.headers.get('content-length');
    if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);

    const reader = raw.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
    let text: string;
    try {
      text = utf8.decode(Buffer.concat(chunks));
    } catch {
      // Decoding leniently would store U+FFFD in place of the caller's bytes without a word.
      throw invalidRequest([{ field: '(body)', message: 'is not valid UTF-8' }]);
    }
    // Hono's cache holds promises even where its type says otherwise.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    if (size === 0) return next();

    const type = (raw.headers.get('content-type') ?? '').split(';')[0].trim();
    if (multipart && type.toLowerCase() === 'multipart/form-data') return next();
    if (!JSON_TYPE.test(type)) {
      throw invalidRequest([
        {
          field: 'Content-Type',
          message: `must be application/json${multipart ? ' or multipart/form-data' : ''} (got ${type ? `'${type}'` : 'none'})`,
        },
      ]);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw invalidRequest([{ field: '(body)', message: `is not valid JSON: ${(err as Error).message}` }]);
    }
    const problems = unstorableProblems(parsed, maxDepth);
    if (problems.length > 0) throw invalidRequest(problems);
    c.set('rawBody', parsed);
    return next();
  };
}
