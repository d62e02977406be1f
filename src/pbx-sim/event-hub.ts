import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ariTimestamp } from './ari-values.js';

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

  constructor(
    readonly asteriskId: string,
    private readonly logger: Logger,
  ) {}

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
    this.sendRaw(ws, {
      type,
      timestamp: ariTimestamp(),
      ...rest,
      asterisk_id: this.asteriskId,
      application: app,
    });
  }

  private sendRaw(ws: WebSocket, msg: Record<string, unknown>): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(JSON.stringify(msg), (err) => {
      if (err) this.logger.debug({ err }, 'pbx-sim: event not delivered');
    });
  }

  /** Test hook: every event socket dies at once, without a close handshake. */
  dropAll(): void {
    for (const ws of new Set(this.sockets.values())) ws.terminate();
    this.sockets.clear();
  }

  closeAll(): void {
    for (const ws of new Set(this.sockets.values())) ws.close(1001, 'shutdown');
    this.sockets.clear();
  }
}
