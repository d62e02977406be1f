import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ariTimestamp } from './ari-values.js';
import { OrderedDelays, type PbxChaos } from './chaos.js';

export type AriEvent = { type: string } & Record<string, unknown>;

/**
 * Stasis applications and their event sockets. As in Asterisk, one socket holds an application at a
 * time: a second connection for the same name replaces the first (which gets ApplicationReplaced).
 * Events for an application with no socket are dropped, not queued.
 */
export class EventHub {
  private readonly sockets = new Map<string, WebSocket>();
  /** Applications ever registered, kept while their socket is away, as Asterisk keeps them. */
  private readonly known = new Set<string>();
  /** Chaos mode: events held back, in order per channel or bridge (see chaos.ts). */
  private readonly delays: OrderedDelays | null;

  constructor(
    readonly asteriskId: string,
    private readonly logger: Logger,
    private readonly chaos: PbxChaos | null = null,
  ) {
    this.delays = chaos
      ? new OrderedDelays((err) => logger.error({ err }, 'pbx-sim: delayed event failed'))
      : null;
  }

  register(apps: string[], ws: WebSocket): void {
    for (const app of apps) {
      const prev = this.sockets.get(app);
      if (prev && prev !== ws) {
        this.sendRaw(prev, { type: 'ApplicationReplaced', application: app, timestamp: ariTimestamp() });
      }
      this.sockets.set(app, ws);
      this.known.add(app);
    }
    ws.on('close', () => {
      for (const app of apps) if (this.sockets.get(app) === ws) this.sockets.delete(app);
    });
  }

  isConnected(app: string): boolean {
    return this.sockets.has(app);
  }

  applications(): string[] {
    return [...this.known].sort();
  }

  emit(app: string | null | undefined, event: AriEvent): void {
    if (!app) return;
    const ws = this.sockets.get(app);
    if (!ws) return;
    const { type, ...rest } = event;
    const msg = {
      type,
      timestamp: ariTimestamp(),
      ...rest,
      asterisk_id: this.asteriskId,
      application: app,
    };
    if (!this.delays || !this.chaos) {
      this.sendRaw(ws, msg);
      return;
    }
    // Bound to this socket: an event Asterisk had queued for a socket that dropped is lost with it.
    this.delays.push(`${app} ${orderKey(event)}`, this.chaos.eventDelayMs(type), () => this.sendRaw(ws, msg));
  }

  private sendRaw(ws: WebSocket, msg: Record<string, unknown>): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(JSON.stringify(msg), (err) => {
      if (err) this.logger.debug({ err }, 'pbx-sim: event not delivered');
    });
  }

  /** Test hook: every event socket dies at once, without a close handshake. */
  dropAll(): void {
    this.delays?.clear();
    for (const ws of new Set(this.sockets.values())) ws.terminate();
    this.sockets.clear();
  }

  closeAll(): void {
    // Events already published go out before the sockets close, as Asterisk's would.
    this.delays?.flush();
    for (const ws of new Set(this.sockets.values())) ws.close(1001, 'shutdown');
    this.sockets.clear();
  }
}

/**
 * What an event keeps its order within (chaos mode): the bridge for bridge events (a channel entering
 * or leaving it, its recording: Asterisk publishes those on the bridge's topic), the recording's or
 * playback's target, else the channel (a Dial event's peer: the dialled channel's topic carries it).
 */
function orderKey(event: AriEvent): string {
  const id = (v: unknown) => (v && typeof v === 'object' ? (v as { id?: unknown }).id : undefined);
  const bridge = id(event.bridge);
  if (typeof bridge === 'string') return `bridge:${bridge}`;
  for (const k of ['recording', 'playback'] as const) {
    const target = (event[k] as { target_uri?: unknown } | undefined)?.target_uri;
    if (typeof target === 'string') return target;
  }
  const channel = id(event.channel) ?? id(event.peer);
  if (typeof channel === 'string') return `channel:${channel}`;
  return 'application';
}
