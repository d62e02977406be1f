import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface RunningServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Takes a WebSocket upgrade request it serves (true), or leaves it (false: answered 404 and closed). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/** Serves a Hono app on Node; `close` also ends idle keep-alive sockets, so tests and shutdown do not hang. */
export function startHttpServer(
  app: Pick<Hono<any, any, any>, 'fetch'>,
  opts: { port: number; host: string; onUpgrade?: UpgradeHandler },
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
    server.on('clientError', answerClientError);
    // Without a handler Node serves upgrade requests as plain requests; with one, the rest get a 404.
    const onUpgrade = opts.onUpgrade;
    if (onUpgrade)
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (onUpgrade(req, socket, head)) return;
        const body = JSON.stringify({
          error: { code: 'not_found', message: 'No WebSocket is served here.' },
        });
        socket.end(
          `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
  });
}

/** Why Node's HTTP parser refused a request, with the status Node itself would send. */
const PARSER_REFUSALS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'The request line and headers are over 16 KB.',
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received in time.'],
};

/**
 * Requests that never reach the app (an oversized URL or header, bytes that are not HTTP) get the
 * spec's error body instead of Node's empty one, so every error a client sees has one shape.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, message] = PARSER_REFUSALS[err.code ?? ''] ?? [
    400,
    'Bad Request',
    'The request is not valid HTTP/1.1.',
  ];
  const body = JSON.stringify({ error: { code: 'invalid_request', message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
