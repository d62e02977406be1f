import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ForbiddenPage } from '../components/error-pages.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';
import { readPreSessionCsrf, readSessionCookie } from './cookies.js';
import { csrfMatches, isSafeMethod, submittedCsrfToken } from './csrf.js';
import { isDashboardPath } from './dashboard-paths.js';
import { applySecurityHeaders } from './security-headers.js';
import { loadSession, type SessionLimits } from './sessions.js';

/** Dashboard forms are a few fields; anything bigger is refused before it is read. */
export const MAX_DASHBOARD_BODY_BYTES = 256 * 1024;

export function sessionLimits(deps: DashboardDeps): SessionLimits {
  return {
    idleMs: deps.config.DASHBOARD_SESSION_IDLE_MINUTES * 60_000,
    absoluteMs: deps.config.DASHBOARD_SESSION_MAX_HOURS * 3_600_000,
  };
}

/** Browsers' navigations ask for HTML; scripts and API clients get the spec's JSON error instead. */
export function wantsHtml(accept: string | undefined): boolean {
  return (accept ?? '').toLowerCase().includes('text/html');
}

/** A refusal before any page runs: the 403 page for a browser, the JSON error shape for a script. */
async function refuse(
  c: Context<DashboardEnv>,
  status: 403 | 413,
  code: string,
  message: string,
  user: DashboardUser | null,
  csrfToken: string,
): Promise<Response> {
  const res = wantsHtml(c.req.header('accept'))
    ? await c.html(<ForbiddenPage user={user} csrfToken={csrfToken} message={message} />, status)
    : c.json({ error: { code, message } }, status);
  c.res = res;
  applySecurityHeaders(c);
  return c.res;
}

/**
 * The dashboard's one gate, on dashboard paths only: security headers, the signed-in user (or null)
 * and its CSRF token for the pages, and a 403 for any state-changing request without the right
 * CSRF token (the session's, or before sign-in the pre-session cookie's), before any page runs.
 */
export function dashboardSession(deps: DashboardDeps): MiddlewareHandler<DashboardEnv> {
  const limits = sessionLimits(deps);
  const now = deps.clock;
  return async (c, next) => {
    if (!isDashboardPath(c.req.path)) return next();
    const token = readSessionCookie(c);
    const session = token ? await loadSession(deps.db, token, now(), limits) : null;
    const user = session?.user ?? null;
    const csrfToken = session?.csrfToken ?? '';
    c.set('user', user);
    c.set('csrfToken', csrfToken);

    const page = async () => {
      await next();
      applySecurityHeaders(c);
      // Pages show calls, transcripts and secrets: never kept in a cache, nor shown again by Back
      // after sign-out. Static files and pages that chose their own caching keep theirs.
      if (
        !c.res.headers.has('cache-control') &&
        (c.res.headers.get('content-type') ?? '').includes('text/html')
      ) {
        c.res.headers.set('Cache-Control', 'no-store');
      }
    };
    if (isSafeMethod(c.req.method)) return page();

    const limited = bodyLimit({
      maxSize: MAX_DASHBOARD_BODY_BYTES,
      onError: (cc) =>
        refuse(
          cc as Context<DashboardEnv>,
          413,
          'payload_too_large',
          'The form is too large.',
          user,
          csrfToken,
        ),
    });
    return limited(c, async () => {
      // Signing out without a session has nothing to protect: it only clears a stale cookie.
      const staleSignOut = !session && c.req.path === '/sign-out';
      const expected = session ? session.csrfToken : readPreSessionCsrf(c);
      if (!staleSignOut && !csrfMatches(expected, await submittedCsrfToken(c))) {
        c.get('log')?.info(
          { path: c.req.path, method: c.req.method },
          'dashboard request refused: CSRF token',
        );
        await refuse(
          c,
          403,
          'forbidden',
          'This form has expired or did not come from this site. Reload the page and try again.',
          user,
          csrfToken,
        );
        return;
      }
      await page();
    }) as Promise<Response | undefined>;
  };
}
