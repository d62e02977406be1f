/**
 * Paths that are not the dashboard's: the API, MCP, the reference, probes, metrics and static assets
 * have their own authentication (or none) and must never see cookies, CSRF checks or session queries.
 */
const NOT_DASHBOARD = /^\/(?:v1|mcp|docs|metrics|assets)(?:\/|$)|^\/(?:openapi\.json|healthz|readyz)$/;

export function isDashboardPath(path: string): boolean {
  return !NOT_DASHBOARD.test(path);
}
