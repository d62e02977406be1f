import type { MiddlewareHandler } from 'hono';
import { ForbiddenPage } from '../components/error-pages.js';
import type { DashboardDeps, DashboardEnv } from '../types.js';
import { readPreSessionCsrf, readSessionCookie } from './cookies.js';
import { csrfMatches, isSafeMethod, submittedCsrfToken } from './csrf.js';
import { isDashboardPath } from './dashboard-paths.js';
import { applySecurityHeaders } from './security-headers.js';
import { loadSession, type SessionLimits } from './sessions.js';

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
    c.set('user', session?.user ?? null);
    c.set('csrfToken', session?.csrfToken ?? '');

    if (!isSafeMethod(c.req.method)) {
      const expected = session ? session.csrfToken : readPreSessionCsrf(c);
      if (!csrfMatches(expected, await submittedCsrfToken(c))) {
        c.get('log')?.info(
          { path: c.req.path, method: c.req.method },
          'dashboard request refused: CSRF token',
        );
        const message =
          'This form has expired or did not come from this site. Reload the page and try again.';
        if (wantsHtml(c.req.header('accept'))) {
          c.res = await c.html(
            <ForbiddenPage
              user={session?.user ?? null}
              csrfToken={session?.csrfToken ?? ''}
              message={message}
            />,
            403,
          );
        } else {
          c.res = c.json({ error: { code: 'forbidden', message } }, 403);
        }
        applySecurityHeaders(c);
        return;
      }
    }
    await next();
    applySecurityHeaders(c);
  };
}
