import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { parse as parseCookies } from 'hono/utils/cookie';
import { type WebSocket, WebSocketServer } from 'ws';
import type { CallStore } from '../../calls/call-store.js';
import type { Db } from '../../db/client.js';
import type { ListenHub } from '../../listen/listen-hub.js';
import type { Logger } from '../../logger.js';
import { SESSION_COOKIE } from '../auth/cookies.js';
import { loadSession, type SessionLimits } from '../auth/sessions.js';
import type { DashboardUser } from '../types.js';

/** `/ui/calls/<call id>/listen`: the WebSocket that streams a live call's audio to the dashboard. */
const LISTEN_PATH = /^\/ui\/calls\/([0-9a-fA-F-]{36})\/listen$/;

export const listenUrlPath = (callId: string) => `/ui/calls/${encodeURIComponent(callId)}/listen`;

/** Close codes (4000–4999 are the application's) and reasons a listener may get. */
export const LISTEN_CLOSE = {
  /** The call ended, or the server stops (1001). */
  ended: 1000,
  /** The call is not live: not answered yet, or over. */
  notLive: 4409,
  /** This process has no call worker: the audio is in another process. */
  noWorker: 4501,
} as const;
export const NO_WORKER_REASON = 'live listen needs the API and a worker in one process: role all';
export const NOT_LIVE_REASON = 'the call is not live';
/** Answered, but its audio is not in this process: a moment before the media is up, or another worker's call. */
export const NOT_HERE_REASON = "the call's audio is not here yet, or another worker process carries it";

/** The first message: what the binary frames that follow carry. */
export interface ListenFormat {
  type: 'format';
  callId: string;
  sampleRate: number;
  channels: 1;
  encoding: 's16le';
}

export interface ListenEndpointOptions {
  /** This process's live calls; null where it runs no worker (role api). */
  hub: ListenHub | null;
  calls: Pick<CallStore, 'get' | 'note'>;
  /** The signed-in user behind a request's Cookie header, or null. */
  resolveUser(cookieHeader: string | undefined): Promise<DashboardUser | null>;
  logger: Logger;
  /** Origins besides the request's own (Host) that may open the socket: the deployment's public URL. */
  allowedOrigins?: readonly string[];
  /** Bytes the socket may have waiting to go out before frames wait in the listener's queue (then drop). */
  maxBufferedBytes?: number;
}

export interface ListenEndpoint {
  /** The HTTP server's `upgrade` handler: true when the request was this endpoint's. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes every listening socket and waits for them and their notes. */
  close(): Promise<void>;
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** The frame as little-endian bytes, without a copy where the machine is little-endian already. */
function littleEndianBytes(frame: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const out = Buffer.allocUnsafe(frame.length * 2);
  for (let i = 0; i < frame.length; i++) out.writeInt16LE(frame[i], i * 2);
  return out;
}

/** Answers an upgrade it will not take with an HTTP error in the API's error shape, then closes. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[
    status
  ];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The browser's Origin must be this server (as the request's Host names it) or one named in `allowed`. */
function sameOrigin(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.host === req.headers.host) return true;
  return allowed.some((a) => {
    try {
      return new URL(a).origin === url.origin;
    } catch {
      return false;
    }
  });
}

/**
 * The live listen WebSocket of the dashboard. A signed-in user of the call's account (or an instance
 * admin), from a page of this server, gets a JSON format message and then the call's mixed audio as
 * binary 16-bit little-endian PCM frames, until the call ends. Read-only: what the browser sends is
 * ignored. Each start and stop is noted on the call, so it shows in its timeline and event stream.
 */
export function createListenEndpoint(opts: ListenEndpointOptions): ListenEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
  const log = opts.logger;
  const maxBuffered = opts.maxBufferedBytes ?? 64 * 1024;
  const allowed = opts.allowedOrigins ?? [];
  /** Upgrades still being checked, sockets open, and notes being written: all end before `close` does. */
  const checking = new Set<Duplex>();
  const open = new Set<WebSocket>();
  const work = new Set<Promise<unknown>>();
  let closing = false;

  const track = (p: Promise<unknown>) => {
    const settled = p.catch(() => {}).finally(() => work.delete(settled));
    work.add(settled);
  };

  const note = (callId: string, reason: string) =>
    track(
      opts.calls.note(callId, reason).catch((err) => log.warn({ err, callId }, 'could not note live listen')),
    );

  const serve = (ws: WebSocket, callId: string, status: string, user: DashboardUser) => {
    open.add(ws);
    ws.on('close', () => open.delete(ws));
    ws.on('error', (err) => log.debug({ err, callId }, 'live listen socket failed'));
    // Read-only: nothing the browser sends has any effect.
    ws.on('message', () => {});
    if (!opts.hub) {
      ws.close(LISTEN_CLOSE.noWorker, NO_WORKER_REASON);
      return;
    }
    let closedBy: string | null = null;
    const listened = opts.hub.listen(callId, {
      ready: () => ws.readyState === ws.OPEN && ws.bufferedAmount < maxBuffered,
      write: (frame) => ws.send(littleEndianBytes(frame), { binary: true }),
      close: (reason) => {
        closedBy = reason;
        ws.close(LISTEN_CLOSE.ended, reason);
      },
    });
    if (!listened.ok) {
      ws.close(LISTEN_CLOSE.notLive, status === 'in_progress' ? NOT_HERE_REASON : NOT_LIVE_REASON);
      return;
    }
    const { subscription } = listened;
    const format: ListenFormat = {
      type: 'format',
      callId,
      sampleRate: subscription.sampleRate,
      channels: 1,
      encoding: 's16le',
    };
    ws.send(JSON.stringify(format));
    log.info({ callId, userId: user.id }, 'live listen started');
    note(callId, `listen_started: ${user.email}`);
    ws.on('close', () => {
      subscription.stop();
      log.info(
        { callId, userId: user.id, dropped: subscription.dropped, by: closedBy },
        'live listen stopped',
      );
      note(callId, `listen_stopped: ${user.email}`);
    });
  };

  const check = async (req: IncomingMessage, socket: Duplex, head: Buffer, callId: string) => {
    if (!sameOrigin(req, allowed))
      return refuse(socket, 403, 'forbidden', 'Live listen opens only from a page of this server.');
    const user = await opts.resolveUser(req.headers.cookie);
    if (!user) return refuse(socket, 401, 'unauthorized', 'Sign in to listen to calls.');
    const call = await opts.calls.get(callId);
    // Another account's call is answered as if it did not exist.
    if (!call || (!user.instanceAdmin && call.accountId !== user.accountId))
      return refuse(socket, 404, 'not_found', 'No such call.');
    if (closing || socket.destroyed) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, call.id, call.status, user));
  };

  return {
    handleUpgrade(req, socket, head) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const match = LISTEN_PATH.exec(path);
      if (!match) return false;
      if (closing) {
        socket.destroy();
        return true;
      }
      checking.add(socket);
      socket.on('error', () => {}); // a client gone mid-check; the socket is dropped below
      track(
        check(req, socket, head, match[1].toLowerCase())
          .catch((err) => {
            log.error({ err, callId: match[1] }, 'live listen upgrade failed');
            if (!socket.destroyed) refuse(socket, 500, 'internal_error', 'Live listen failed.');
          })
          .finally(() => checking.delete(socket)),
      );
      return true;
    },
    async close() {
      closing = true;
      for (const socket of checking) socket.destroy();
      const gone = [...open].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close(1001, 'server shutting down');
          }),
      );
      // A browser that does not answer the closing handshake is cut off after a moment.
      const timer = setTimeout(() => {
        for (const ws of open) ws.terminate();
      }, 2000);
      try {
        await Promise.all(gone);
      } finally {
        clearTimeout(timer);
      }
      while (work.size > 0) await Promise.all([...work]);
      wss.close();
    },
  };
}

/** The dashboard user behind a Cookie header's session, as the dashboard's own pages resolve it. */
export function sessionUserResolver(
  db: Db,
  limits?: SessionLimits,
  clock: () => Date = () => new Date(),
): (cookieHeader: string | undefined) => Promise<DashboardUser | null> {
  return async (cookieHeader) => {
    if (!cookieHeader) return null;
    const token = parseCookies(cookieHeader, SESSION_COOKIE)[SESSION_COOKIE];
    if (!token) return null;
    return (await loadSession(db, token, clock(), limits))?.user ?? null;
  };
}
