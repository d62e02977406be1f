import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the receiver does with the n-th request (0-based): answer a status (with a body), or never answer. */
export type Reply = number | 'hang' | { status: number; body: string };

/** A real HTTP webhook receiver on 127.0.0.1 that records every request it gets. */
export interface Receiver {
  url: string;
  port: number;
  received: ReceivedRequest[];
  reply(plan: (n: number, req: ReceivedRequest) => Reply): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  let plan: (n: number, req: ReceivedRequest) => Reply = () => 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const n = received.push(r) - 1;
      const reply = plan(n, r);
      if (reply === 'hang') return;
      const { status, body } = typeof reply === 'number' ? { status: reply, body: '{}' } : reply;
      if (status >= 300 && status < 400) res.setHeader('Location', '/elsewhere');
      res.statusCode = status;
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/agentline`,
    port,
    received,
    reply(p) {
      plan = p;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
