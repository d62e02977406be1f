import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface RunningServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves a Hono app on Node; `close` also ends idle keep-alive sockets, so tests and shutdown do not hang. */
export function startHttpServer(
  app: Pick<Hono<any, any, any>, 'fetch'>,
  opts: { port: number; host: string },
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, (info: AddressInfo) => {
      server.off('error', reject);
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      let closing: Promise<void> | null = null;
      resolve({
        port: info.port,
        url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${info.port}`,
        close: () => {
          closing ??= new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            const s = server as unknown as {
              closeIdleConnections?: () => void;
              closeAllConnections?: () => void;
            };
            s.closeIdleConnections?.();
            // In-flight requests get a moment to finish; then their sockets go too.
            setTimeout(() => s.closeAllConnections?.(), 2_000).unref();
          });
          return closing;
        },
      });
    });
    server.once('error', reject);
  });
}
