import { Hono } from 'hono';
import { type RunningServer, startHttpServer } from '../api/http-server.js';
import { registerMetricsRoute } from '../api/routes/metrics.js';
import type { Metrics } from './metrics.js';

/**
 * A listener that serves only /metrics, on METRICS_PORT: a worker-only process has no API server,
 * and Prometheus scrapes each worker for its own calls, engines and PBX link.
 */
export function startMetricsServer(opts: {
  metrics: Metrics;
  token?: string;
  port: number;
  host: string;
}): Promise<RunningServer> {
  const app = new Hono();
  registerMetricsRoute(app, opts.metrics, { token: opts.token });
  app.notFound((c) =>
    c.json({ error: { code: 'not_found', message: 'This listener serves only GET /metrics.' } }, 404),
  );
  app.onError((_err, c) =>
    c.json({ error: { code: 'internal_error', message: 'The metrics could not be rendered.' } }, 500),
  );
  return startHttpServer(app, { port: opts.port, host: opts.host });
}
