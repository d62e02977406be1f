import type { Context } from 'hono';

/**
 * Only this server's own files: no inline script (pages load scripts from /assets), media from blob:
 * for the live-listen player, WebSockets for the same, and no framing by anyone.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "media-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** Puts the dashboard's security headers on the response, whoever built it. */
export function applySecurityHeaders(c: Context): void {
  for (const [k, v] of Object.entries(HEADERS)) {
    try {
      c.res.headers.set(k, v);
    } catch {
      // A response with immutable headers (a fetched one passed through) is rebuilt to carry them.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(k, v);
    }
  }
}
