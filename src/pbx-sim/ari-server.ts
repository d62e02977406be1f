import fs from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { AriRequest, AriRoute } from './ari-routes.js';
import type { PbxChaos } from './chaos.js';
import { AriError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { PbxCore } from './pbx-core.js';

const MAX_BODY = 1 << 20;

interface CompiledRoute {
  route: AriRoute;
  re: RegExp;
  names: string[];
}

function compile(routes: AriRoute[]): CompiledRoute[] {
  return routes
    .map((route) => {
      const names: string[] = [];
      const re = new RegExp(
        `^/ari${route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
          names.push(name);
          return '([^/]+)';
        })}$`,
      );
      return { route, re, names };
    })
    .sort((a, b) => a.names.length - b.names.length);
}

/**
 * The HTTP face of the simulated PBX: ARI under `/ari` (Basic auth or `?api_key=user:pass`, JSON
 * errors as `{"message": ...}`), the events WebSocket at `/ari/events`, and chan_websocket media at
 * `/media/<connection id>`.
 */
/** Trouble the simulated PBX can reproduce (load tests, drills of a worker's handling of it). */
export interface PbxImpairments {
  /** Originate requests (`POST /channels`) are cut off before the PBX sees them: no channel, no answer. */
  dropOriginate?: boolean;
  /** Originate requests are carried out at once but answered this much later. */
  originateReplyDelayMs?: number;
  /**
   * While set, replaces the `stasisEntryDelayMs` option: how long after the HTTP answer an
   * externalMedia channel enters the application (e.g. longer than a client waits for it).
   */
  stasisEntryDelayMs?: { min: number; max: number };
  /**
   * Requests answered with this error (as `{"message": ...}`) instead of being carried out, keyed by
   * method and route as the swagger writes it (`POST /bridges/{bridgeId}/addChannel`): the first
   * `times` of them (default: all) from the moment it is set. A drill of a request Asterisk refuses.
   */
  failRequests?: Record<string, { status: number; message: string; times?: number }>;
}

export function createAriServer(opts: {
  routes: AriRoute[];
  core: PbxCore;
  hub: EventHub;
  username: string;
  password: string;
  logger: Logger;
  /** Trouble to reproduce, read at each request (see SimulatedPbx.impair). */
  impairments?: PbxImpairments;
  /** Chaos mode: random request delays and failures (see chaos.ts). */
  chaos?: PbxChaos | null;
}): http.Server {
  const { logger } = opts;
  const chaos = opts.chaos ?? null;
  // Chaos delays are the server's timers: cleared when it closes (the requests die with their sockets).
  const waits = new Set<NodeJS.Timeout>();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const t = setTimeout(() => {
        waits.delete(t);
        resolve();
      }, ms);
      waits.add(t);
    });
  const compiled = compile(opts.routes);
  /** How many requests each `failRequests` entry has failed so far. */
  const forcedCounts = new WeakMap<object, number>();
  const expected = `${opts.username}:${opts.password}`;

  const authorized = (req: http.IncomingMessage, url: URL): boolean => {
    const key = url.searchParams.get('api_key');
    if (key !== null) return key === expected;
    const h = req.headers.authorization ?? '';
    const m = /^Basic\s+(.+)$/i.exec(h);
    if (!m) return false;
    return Buffer.from(m[1], 'base64').toString('utf8') === expected;
  };

  const send = (
    res: http.ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const readBody = (req: http.IncomingMessage): Promise<Record<string, unknown> | null> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new AriError(413, 'Request body too large'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').trim();
        if (!text) return resolve(null);
        try {
          const json = JSON.parse(text);
          resolve(json && typeof json === 'object' && !Array.isArray(json) ? json : null);
        } catch {
          reject(new AriError(400, 'Error parsing request body'));
        }
      });
      req.on('error', reject);
    });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith('/ari/')) return send(res, 404, { message: 'Resource not found' });
    const originating = req.method === 'POST' && url.pathname === '/ari/channels';
    if (originating && opts.impairments?.dropOriginate) {
      // Lost on the way: the connection dies before the PBX acted on the request.
      req.socket.destroy();
      return;
    }
    if (!authorized(req, url)) {
      return send(
        res,
        401,
        { message: 'Authentication required' },
        { 'WWW-Authenticate': 'Basic realm="Asterisk REST Interface"' },
      );
    }
    const candidates = compiled
      .map((c) => ({ c, m: c.re.exec(url.pathname) }))
      .filter((x): x is { c: CompiledRoute; m: RegExpExecArray } => x.m !== null);
    if (!candidates.length) return send(res, 404, { message: 'Resource not found' });
    const hit = candidates.find((x) => x.c.route.method === req.method);
    if (!hit) return send(res, 405, { message: 'Invalid method' });
    const body = await readBody(req);
    const params: Record<string, string> = {};
    hit.c.names.forEach((n, i) => {
      params[n] = decodeURIComponent(hit.m[i + 1]);
    });
    const method = hit.c.route.method;
    const routePath = hit.c.route.path;
    const forced = opts.impairments?.failRequests?.[`${method} ${routePath}`];
    if (forced && (forcedCounts.get(forced) ?? 0) < (forced.times ?? Number.POSITIVE_INFINITY)) {
      forcedCounts.set(forced, (forcedCounts.get(forced) ?? 0) + 1);
      return send(res, forced.status, { message: forced.message });
    }
    if (chaos) {
      await wait(chaos.requestDelayMs(method, routePath, 'act'));
      const failure = chaos.failure(method, routePath);
      if (failure) {
        logger.debug(
          { method, path: url.pathname, status: failure.status, chaosSeed: chaos.seed },
          'pbx-sim chaos: request failed',
        );
        await wait(chaos.requestDelayMs(method, routePath, 'answer'));
        return send(res, failure.status, failure.body);
      }
    }
    const param = (name: string): string | undefined => {
      const b = body?.[name];
      if (b !== undefined && b !== null && typeof b !== 'object') return String(b);
      return url.searchParams.get(name) ?? undefined;
    };
    const ariReq: AriRequest = {
      params,
      param,
      int(name, fallback) {
        const v = param(name);
        if (v === undefined || v === '') return fallback;
        const n = Number(v);
        if (!Number.isInteger(n)) throw new AriError(400, `${name} must be an integer`);
        return n;
      },
      bool(name, fallback) {
        const v = param(name);
        if (v === undefined) return fallback;
        if (/^(true|yes|1)$/i.test(v)) return true;
        if (/^(false|no|0)$/i.test(v)) return false;
        throw new AriError(400, `${name} must be a boolean`);
      },
      variables() {
        const v = body?.variables;
        if (v === undefined || v === null) return undefined;
        if (typeof v !== 'object' || Array.isArray(v)) throw new AriError(400, 'variables must be an object');
        return Object.fromEntries(
          Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]),
        );
      },
    };
    const result = await hit.c.route.handle(ariReq);
    const delayMs =
      (originating ? (opts.impairments?.originateReplyDelayMs ?? 0) : 0) +
      (chaos ? chaos.requestDelayMs(method, routePath, 'answer') : 0);
    // Done, but the answer comes late: an overloaded PBX or link.
    if (delayMs > 0) await wait(delayMs);
    if (result.status === 204) return send(res, 204);
    if ('file' in result) {
      const stat = await fs.promises.stat(result.file);
      res.writeHead(200, { 'Content-Type': result.contentType, 'Content-Length': stat.size });
      fs.createReadStream(result.file).pipe(res);
      return;
    }
    send(res, 200, result.json);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof AriError) return send(res, err.status, { message: err.message });
      logger.error({ err }, 'pbx-sim: request failed');
      if (!res.headersSent) send(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });

  const eventWss = new WebSocketServer({ noServer: true });
  const mediaWss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('media') ? 'media' : false),
  });

  const reject = (socket: Duplex, status: number, message: string) => {
    const body = JSON.stringify({ message });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ari/events') {
      if (!authorized(req, url)) return reject(socket, 401, 'Authentication required');
      const apps = (url.searchParams.get('app') ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      if (!apps.length) return reject(socket, 400, 'Missing param: app');
      eventWss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', (err) => logger.debug({ err }, 'pbx-sim: event socket error'));
        opts.hub.register(apps, ws);
      });
      return;
    }
    const media = /^\/media\/([^/]+)$/.exec(url.pathname);
    if (media) {
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim());
      if (!offered.includes('media'))
        return reject(socket, 400, 'The media websocket needs the "media" subprotocol');
      const id = decodeURIComponent(media[1]);
      mediaWss.handleUpgrade(req, socket, head, (ws) => {
        if (!opts.core.attachMediaSocket(id, ws))
          ws.close(1008, 'unknown or already connected media connection id');
      });
      return;
    }
    reject(socket, 404, 'Resource not found');
  });

  server.on('close', () => {
    for (const t of waits) clearTimeout(t);
    waits.clear();
    eventWss.close();
    mediaWss.close();
  });
  return server;
}
