import type { Context } from 'hono';
import { safeEqual } from './tokens.js';

/** Form field and header that carry the CSRF token. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * The token a request carries: the header (fetch from scripts), else the `_csrf` field of a form body.
 * Hono keeps the parsed body, so the page handler can still read its form after this.
 */
export async function submittedCsrfToken(c: Context): Promise<string | null> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) {
    return null;
  }
  try {
    const body = await c.req.parseBody();
    const v = body[CSRF_FIELD];
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Whether the submitted token is the expected one; no expected token means nothing can match. */
export function csrfMatches(expected: string | null | undefined, submitted: string | null): boolean {
  return Boolean(expected) && submitted !== null && safeEqual(expected as string, submitted);
}
