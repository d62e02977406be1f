import type { MiddlewareHandler } from 'hono';
import { renderForbidden } from '../components/error-pages.js';
import type { DashboardEnv } from '../types.js';
import { signInPath } from './next-path.js';

export interface RequireUserOptions {
  /** Only owners (keys, numbers, webhook secret, users). */
  role?: 'owner';
  /** Only instance admins (every account, caps). */
  instanceAdmin?: true;
}

/**
 * Guards a page: nobody signed in → 302 to /sign-in?next=<this page>; signed in without the role or
 * the admin flag → the 403 page. An instance admin passes an owner check too.
 */
export function requireUser(opts: RequireUserOptions = {}): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const user = c.get('user');
    if (!user) {
      const url = new URL(c.req.url);
      const here = c.req.method === 'GET' ? `${url.pathname}${url.search}` : '/';
      return c.redirect(signInPath(here), 302);
    }
    const roleOk = !opts.role || user.role === opts.role || user.instanceAdmin;
    const adminOk = !opts.instanceAdmin || user.instanceAdmin;
    if (!roleOk || !adminOk) return renderForbidden(c);
    await next();
  };
}
