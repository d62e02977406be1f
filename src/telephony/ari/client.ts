import WebSocket from 'ws';
import type { Logger } from '../../logger.js';
import type {
  AriAsteriskInfo,
  AriBridge,
  AriChannel,
  AriEvent,
  AriEventType,
  AriLiveRecording,
  AriVariable,
  ContinueParams,
  CreateBridgeParams,
  DtmfParams,
  ExternalMediaParams,
  OriginateParams,
  RecordBridgeParams,
  SnoopParams,
} from './types.js';

/**
 * Whether a failed request reached Asterisk: `answered` (it replied with an error status), `unsent`
 * (the connection was never made: refused, unreachable, name not found, connect timeout, so Asterisk
 * never saw it), or `unknown` (sent, or maybe sent, and no answer came: a timeout or a connection
 * dropped mid-request; Asterisk may have acted on it).
 */
export type AriDelivery = 'answered' | 'unsent' | 'unknown';

/** Error codes of a connection that was never established. */
const UNSENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A REST call that Asterisk answered with an error status, or that never got an answer (status 0). */
export class AriError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    /** Asterisk's own `message`, or the transport error's. */
    readonly ariMessage: string,
    readonly delivery: AriDelivery = status > 0 ? 'answered' : 'unknown',
  ) {
    super(`ARI ${method} ${path} failed${status ? ` with ${status}` : ''}: ${ariMessage}`);
    this.name = 'AriError';
  }
}

/** How far a request that fetch() rejected got (see AriDelivery). */
function deliveryOf(err: unknown): AriDelivery {
  const cause = (err as { cause?: { code?: unknown; cause?: { code?: unknown } } } | null)?.cause;
  const code = cause?.code ?? cause?.cause?.code;
  return typeof code === 'string' && UNSENT_CODES.has(code) ? 'unsent' : 'unknown';
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Error statuses the caller handles as an answer (logged at debug, not as a failure). */
  expect?: readonly number[];
}

export interface AriClientOptions {
  /** The ARI base URL, e.g. http://127.0.0.1:8088/ari. */
  url: string;
  username: string;
  password: string;
  /** The Stasis application whose events this client receives. */
  app: string;
  logger: Logger;
  /** First reconnect delay; doubles up to `reconnectMaxMs`. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  requestTimeoutMs?: number;
  /** How often the events socket is pinged; a missed pong drops and reconnects it. */
  pingIntervalMs?: number;
}

type Listener<T> = (value: T) => void;

export interface AriClient {
  readonly app: string;
  readonly baseUrl: string;
  /** True while the events WebSocket is open. */
  readonly connected: boolean;
  /** Opens the events WebSocket and keeps it open (reconnecting with backoff) until `close()`. Resolves on the first open. */
  connect(): Promise<void>;
  close(): Promise<void>;
  onConnectionChange(listener: Listener<boolean>): () => void;
  on<T extends AriEventType>(type: T, listener: Listener<Extract<AriEvent, { type: T }>>): () => void;
  onEvent(listener: Listener<AriEvent>): () => void;
  /**
   * After each reconnect the client lists the PBX's channels; listeners learn which channel ids
   * still exist, so a call whose channel vanished while events were lost can end.
   */
  onReconciled(listener: Listener<ReadonlySet<string>>): () => void;
  request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts?: { query?: Record<string, QueryValue>; body?: unknown; binary?: false; expect?: readonly number[] },
  ): Promise<T>;
  /**
   * The same client, whose REST requests log their failures with these fields too (a call's id):
   * each failed request is logged once, by the client, with its method, path, status and Asterisk's
   * message, so a caller that handles the error does not log it again.
   */
  withLogContext(bindings: Record<string, unknown>): AriClient;
  /** URL of a chan_websocket media connection on the ARI host. */
  mediaWebSocketUrl(connectionId: string): string;
  /** Basic-auth header value, for the media WebSocket. */
  readonly authorization: string;

  asteriskInfo(): Promise<AriAsteriskInfo>;
  listChannels(): Promise<AriChannel[]>;
  getChannel(channelId: string): Promise<AriChannel>;
  originate(params: OriginateParams): Promise<AriChannel>;
  hangup(channelId: string, reason?: string): Promise<void>;
  answer(channelId: string): Promise<void>;
  continueInDialplan(channelId: string, params: ContinueParams): Promise<void>;
  getChannelVariable(channelId: string, variable: string): Promise<string>;
  sendDtmf(channelId: string, dtmf: string, opts?: DtmfParams): Promise<void>;
  externalMedia(params: ExternalMediaParams): Promise<AriChannel>;
  /** A channel in `params.app` that hears `channelId` (spy) and/or speaks to it (whisper). */
  snoopChannel(channelId: string, params: SnoopParams): Promise<AriChannel>;
  listBridges(): Promise<AriBridge[]>;
  createBridge(params: CreateBridgeParams): Promise<AriBridge>;
  destroyBridge(bridgeId: string): Promise<void>;
  addChannelToBridge(bridgeId: string, channelIds: readonly string[]): Promise<void>;
  removeChannelFromBridge(bridgeId: string, channelIds: readonly string[]): Promise<void>;
  recordBridge(bridgeId: string, params: RecordBridgeParams): Promise<AriLiveRecording>;
  stopLiveRecording(name: string): Promise<void>;
  getStoredRecordingFile(name: string): Promise<Buffer>;
  deleteStoredRecording(name: string): Promise<void>;
}

const enc = encodeURIComponent;

function toQueryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    // Asterisk takes list parameters comma-separated and booleans as true/false.
    qs.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

async function readError(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const json = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof json.message === 'string') return json.message;
    if (typeof json.error === 'string') return json.error;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 300) || res.statusText || 'no message';
}

/** ARI lives under /ari on Asterisk's HTTP server; ARI_URL may name the server (http://host:8088) or ARI itself. */
export function ariBaseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/ari$/.test(new URL(trimmed).pathname) ? trimmed : `${trimmed}/ari`;
}

/** A small typed ARI client: REST with Basic auth, and the events WebSocket with reconnect and reconciliation. */
export function createAriClient(opts: AriClientOptions): AriClient {
  const baseUrl = ariBaseUrl(opts.url);
  const authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  const initialDelay = opts.reconnectInitialMs ?? 250;
  const maxDelay = opts.reconnectMaxMs ?? 10_000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const pingIntervalMs = opts.pingIntervalMs ?? 15_000;
  const log = opts.logger.child({ component: 'ari' });

  const eventListeners = new Set<Listener<AriEvent>>();
  const connListeners = new Set<Listener<boolean>>();
  const reconcileListeners = new Set<Listener<ReadonlySet<string>>>();

  let ws: WebSocket | null = null;
  let connected = false;
  let closed = false;
  let everConnected = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let pingTimer: NodeJS.Timeout | null = null;
  let firstOpen: { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> } | null = null;

  const emit = <T>(set: Set<Listener<T>>, value: T) => {
    for (const l of [...set]) {
      try {
        l(value);
      } catch (err) {
        log.error({ err }, 'ARI listener threw');
      }
    }
  };

  const setConnected = (v: boolean) => {
    if (connected === v) return;
    connected = v;
    emit(connListeners, v);
  };

  /**
   * Every failed request is logged here, once: at debug when the caller said it expects that status
   * (a 404 for a channel that may be gone already), else at warn.
   */
  function failed(reqLog: Logger, err: AriError, expected: readonly number[] | undefined): AriError {
    const fields = {
      method: err.method,
      path: err.path,
      status: err.status,
      ariMessage: err.ariMessage,
      ...(err.status === 0 ? { delivery: err.delivery } : {}),
    };
    if (err.status > 0 && expected?.includes(err.status)) reqLog.debug(fields, 'ARI request answered');
    else reqLog.warn(fields, 'ARI request failed');
    return err;
  }

  async function request<T>(
    reqLog: Logger,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    ropts: RequestOptions = {},
  ): Promise<T> {
    const res = await rawRequest(reqLog, method, path, ropts);
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw failed(reqLog, new AriError(res.status, method, path, 'response is not JSON'), undefined);
    }
  }

  async function rawRequest(
    reqLog: Logger,
    method: string,
    path: string,
    ropts: RequestOptions,
  ): Promise<Response> {
    const url = `${baseUrl}${path}${toQueryString(ropts.query)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          Authorization: authorization,
          ...(ropts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        body: ropts.body !== undefined ? JSON.stringify(ropts.body) : undefined,
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } }).cause;
      const detail = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
      throw failed(
        reqLog,
        new AriError(
          0,
          method,
          path,
          `${err instanceof Error ? err.message : String(err)}${detail}`,
          deliveryOf(err),
        ),
        ropts.expect,
      );
    }
    if (!res.ok)
      throw failed(reqLog, new AriError(res.status, method, path, await readError(res)), ropts.expect);
    return res;
  }

  function eventsUrl(): string {
    const u = new URL(`${baseUrl}/events`);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('app', opts.app);
    return u.toString();
  }

  function scheduleReconnect() {
    if (closed || reconnectTimer) return;
    const delay = Math.min(maxDelay, initialDelay * 2 ** Math.min(attempt, 16));
    // Jitter keeps many workers from reconnecting in lockstep after a PBX restart.
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    attempt++;
    log.debug({ delayMs: jittered, attempt }, 'ARI events socket reconnect scheduled');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      openSocket();
    }, jittered);
  }

  async function reconcile() {
    try {
      const channels = await request<AriChannel[]>(log, 'GET', '/channels');
      emit(reconcileListeners, new Set(channels.map((c) => c.id)));
    } catch {
      // The failed request is logged by request() already.
      log.warn('ARI reconciliation failed; dropping the socket to retry');
      ws?.terminate();
    }
  }

  function openSocket() {
    if (closed) return;
    const socket = new WebSocket(eventsUrl(), { headers: { Authorization: authorization } });
    ws = socket;
    let alive = true;
    socket.on('open', () => {
      if (ws !== socket) return;
      const reconnected = everConnected;
      everConnected = true;
      attempt = 0;
      log.info({ reconnected }, 'ARI events socket connected');
      setConnected(true);
      firstOpen?.resolve();
      pingTimer = setInterval(() => {
        if (!alive) {
          log.warn('ARI events socket missed a pong; reconnecting');
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, pingIntervalMs);
      if (reconnected) void reconcile();
    });
    socket.on('pong', () => {
      alive = true;
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      let ev: AriEvent;
      try {
        ev = JSON.parse(data.toString()) as AriEvent;
      } catch {
        log.warn('ARI sent an event that is not JSON; ignored');
        return;
      }
      if (!ev || typeof ev.type !== 'string') return;
      emit(eventListeners, ev);
    });
    socket.on('error', (err) => {
      log.debug({ err }, 'ARI events socket error');
    });
    socket.on('close', () => {
      if (ws !== socket) return;
      ws = null;
      if (pingTimer) clearInterval(pingTimer);
      pingTimer = null;
      setConnected(false);
      if (!closed) {
        if (everConnected) log.warn('ARI events socket closed; reconnecting');
        scheduleReconnect();
      }
    });
  }

  const channelPath = (id: string) => `/channels/${enc(id)}`;

  /** The REST calls, logging their failures on `reqLog` (the client's log, or a call's child of it). */
  const rest = (reqLog: Logger) => ({
    request: <T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, ropts?: RequestOptions) =>
      request<T>(reqLog, method, path, ropts),
    withLogContext: (bindings: Record<string, unknown>): AriClient => {
      // The view shares everything else (events, connection state) with the client itself.
      const view: AriClient = Object.create(client);
      return Object.assign(view, rest(reqLog.child(bindings)));
    },
    asteriskInfo: () => request<AriAsteriskInfo>(reqLog, 'GET', '/asterisk/info'),
    listChannels: () => request<AriChannel[]>(reqLog, 'GET', '/channels'),
    // 404: the channel is gone, which callers ask to find out.
    getChannel: (id: string) => request<AriChannel>(reqLog, 'GET', channelPath(id), { expect: [404] }),
    originate: ({ variables, ...query }: OriginateParams) =>
      request<AriChannel>(reqLog, 'POST', '/channels', {
        query: { ...query },
        body: variables ? { variables } : undefined,
      }),
    hangup: async (id: string, reason?: string) => {
      // 404: gone already, which is what a hangup wants.
      await request(reqLog, 'DELETE', channelPath(id), { query: { reason }, expect: [404] });
    },
    answer: async (id: string) => {
      await request(reqLog, 'POST', `${channelPath(id)}/answer`);
    },
    continueInDialplan: async (id: string, params: ContinueParams) => {
      await request(reqLog, 'POST', `${channelPath(id)}/continue`, { query: { ...params } });
    },
    getChannelVariable: async (id: string, variable: string) =>
      (
        await request<AriVariable>(reqLog, 'GET', `${channelPath(id)}/variable`, {
          query: { variable },
        })
      ).value,
    sendDtmf: async (id: string, dtmf: string, params?: DtmfParams) => {
      await request(reqLog, 'POST', `${channelPath(id)}/dtmf`, { query: { dtmf, ...params } });
    },
    externalMedia: ({ variables, ...query }: ExternalMediaParams) =>
      request<AriChannel>(reqLog, 'POST', '/channels/externalMedia', {
        query: { ...query },
        body: variables ? { variables } : undefined,
      }),
    snoopChannel: (id: string, params: SnoopParams) =>
      request<AriChannel>(reqLog, 'POST', `${channelPath(id)}/snoop`, { query: { ...params } }),
    listBridges: () => request<AriBridge[]>(reqLog, 'GET', '/bridges'),
    createBridge: (params: CreateBridgeParams) =>
      request<AriBridge>(reqLog, 'POST', '/bridges', { query: { ...params } }),
    destroyBridge: async (id: string) => {
      await request(reqLog, 'DELETE', `/bridges/${enc(id)}`, { expect: [404] });
    },
    addChannelToBridge: async (id: string, channelIds: readonly string[]) => {
      await request(reqLog, 'POST', `/bridges/${enc(id)}/addChannel`, { query: { channel: channelIds } });
    },
    removeChannelFromBridge: async (id: string, channelIds: readonly string[]) => {
      await request(reqLog, 'POST', `/bridges/${enc(id)}/removeChannel`, { query: { channel: channelIds } });
    },
    recordBridge: (id: string, params: RecordBridgeParams) =>
      request<AriLiveRecording>(reqLog, 'POST', `/bridges/${enc(id)}/record`, { query: { ...params } }),
    stopLiveRecording: async (name: string) => {
      // 404: the recording ended already (its bridge or channel went first).
      await request(reqLog, 'POST', `/recordings/live/${enc(name)}/stop`, { expect: [404] });
    },
    getStoredRecordingFile: async (name: string) => {
      const res = await rawRequest(reqLog, 'GET', `/recordings/stored/${enc(name)}/file`, {});
      return Buffer.from(await res.arrayBuffer());
    },
    deleteStoredRecording: async (name: string) => {
      await request(reqLog, 'DELETE', `/recordings/stored/${enc(name)}`);
    },
  });

  const client: AriClient = {
    app: opts.app,
    baseUrl,
    authorization,
    get connected() {
      return connected;
    },
    connect() {
      if (closed) return Promise.reject(new Error('ARI client is closed'));
      if (!firstOpen) {
        let resolve!: () => void;
        let reject!: (e: Error) => void;
        const promise = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        // A caller may stop waiting; the rejection on close must not be unhandled then.
        promise.catch(() => {});
        firstOpen = { resolve, reject, promise };
        openSocket();
      }
      return firstOpen.promise;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (pingTimer) clearInterval(pingTimer);
      pingTimer = null;
      const socket = ws;
      ws = null;
      if (!everConnected) firstOpen?.reject(new Error('ARI client closed before it connected'));
      if (socket) {
        await new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
          else socket.close();
          // A peer that never answers the close handshake must not hold shutdown.
          setTimeout(() => socket.terminate(), 1000).unref();
        });
      }
      setConnected(false);
    },
    onConnectionChange(listener) {
      connListeners.add(listener);
      return () => connListeners.delete(listener);
    },
    on(type, listener) {
      const wrapped: Listener<AriEvent> = (ev) => {
        if (ev.type === type) (listener as Listener<AriEvent>)(ev);
      };
      eventListeners.add(wrapped);
      return () => eventListeners.delete(wrapped);
    },
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onReconciled(listener) {
      reconcileListeners.add(listener);
      return () => reconcileListeners.delete(listener);
    },
    mediaWebSocketUrl(connectionId) {
      const u = new URL(baseUrl);
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      u.pathname = `/media/${enc(connectionId)}`;
      u.search = '';
      return u.toString();
    },
    ...rest(log),
  };
  return client;
}
