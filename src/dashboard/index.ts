import type { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import type { AppEnv } from '../api/types.js';
import { isDashboardPath } from './auth/dashboard-paths.js';
import { dashboardSession, wantsHtml } from './auth/middleware.js';
import { renderNotFound } from './components/error-pages.js';
import { registerAdmin } from './pages/admin.js';
import { registerBatches } from './pages/batches.js';
import { registerCallPages } from './pages/calls.js';
import { registerDevelopers } from './pages/developers.js';
import { registerDoNotCall } from './pages/do-not-call.js';
import { registerPlaceCall } from './pages/place-call.js';
import { registerSettings } from './pages/settings.js';
import { registerSignIn } from './pages/sign-in.js';
import { registerUsers } from './pages/users.js';
import { registerDashboardEvents } from './routes/events.js';
import { registerAssets } from './static-assets.js';
import type { DashboardDeps, DashboardEnv } from './types.js';

/**
 * The operator console, served by the API server itself: server-rendered pages (Hono JSX) with small
 * progressive-enhancement scripts, no CDN. Each page group registers itself on one sub-app here.
 */
export function registerDashboard(app: OpenAPIHono<AppEnv>, deps: DashboardDeps): void {
  const ui = new Hono<DashboardEnv>();
  // Order matters: static files need no session; every page below sees the user and has passed CSRF.
  registerAssets(ui);
  ui.use('*', dashboardSession(deps));
  ui.get('/', (c) => c.redirect(c.get('user') ? '/calls' : '/sign-in', 302));
  registerSignIn(ui, deps);
  registerUsers(ui, deps);
  // Before the call pages: /calls/new is not a call id.
  registerPlaceCall(ui, deps);
  registerDevelopers(ui, deps);
  registerCallPages(ui, deps);
  registerDashboardEvents(ui, deps);
  registerSettings(ui, deps);
  registerAdmin(ui, deps);
  registerBatches(ui, deps);
  registerDoNotCall(ui, deps);
  // Page groups: one register line each, above this comment.

  // Last: an unknown page a browser asked for gets the HTML 404; API clients keep the JSON one.
  ui.get('*', async (c, next) => {
    if (isDashboardPath(c.req.path) && wantsHtml(c.req.header('accept'))) return renderNotFound(c);
    await next();
  });
  app.route('/', ui);
}
