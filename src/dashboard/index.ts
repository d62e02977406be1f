import type { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import type { AppEnv } from '../api/types.js';
import type { DashboardDeps, DashboardEnv } from './types.js';

/**
 * The operator console, served by the API server itself: server-rendered pages (Hono JSX) with small
 * progressive-enhancement scripts, no CDN. Each page group registers itself on one sub-app here.
 */
export function registerDashboard(app: OpenAPIHono<AppEnv>, deps: DashboardDeps): void {
  const ui = new Hono<DashboardEnv>();
  void deps;
  ui.get('/', (c) => c.redirect('/docs', 302));
  app.route('/', ui);
}
