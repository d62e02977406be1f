import type { Context } from 'hono';
import type { Config } from '../../config.js';
import type { DashboardEnv } from '../types.js';
import { ensurePreSessionCsrf } from './cookies.js';

/** The token a form on this page must carry: the session's, or before sign-in the pre-session one. */
export function formCsrfToken(c: Context<DashboardEnv>, config: Config): string {
  return c.get('csrfToken') || ensurePreSessionCsrf(c, config);
}
