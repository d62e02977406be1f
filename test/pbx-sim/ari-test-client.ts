import WebSocket from 'ws';

export type AriEvent = { type: string; [k: string]: any };

/**
 * A raw ARI client, written against the wire protocol only (fetch + ws), as a controller of a real
 * Asterisk would talk to it.
 */
export class RawAri {
  readonly events: AriEvent[] = [];
  private ws: WebSocket | null = null;
  private waiters: {
    pred: (e: AriEvent) => boolean;
    resolve: (e: AriEvent) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout;
  }[] = [];

  constructor(
    readonly ariUrl: string,
    readonly user = 'ari',
    readonly pass = 'secret',
    readonly app = 'test',
  ) {}

  get auth(): string {
    return `Basic ${Buffer.from(`${this.user}:${this.pass}`).toString('base64')}`;
  }

  async connect(): Promise<void> {
    const wsUrl = `${this.ariUrl.replace(/^http/, 'ws')}/events?app=${this.app}&api_key=${this.user}:${this.pass}`;
    const ws = new WebSocket(wsUrl);
    ws.on('message', (d) => {
      const ev = JSON.parse(d.toString()) as AriEvent;
      this.events.push(ev);
      for (const w of [...this.waiters]) {
        if (w.pred(ev)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(ev);
        }
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    this.ws = ws;
  }

  /** Resolves with the first event (already seen or future) that matches. */
  waitFor(pred: (e: AriEvent) => boolean, ms = 10_000): Promise<AriEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(
            new Error(`timed out waiting for an event; saw: ${this.events.map((e) => e.type).join(',')}`),
          );
        }, ms),
      };
      this.waiters.push(w);
    });
  }

  async request(method: string, path: string, query: Record<string, string | number> = {}, body?: unknown) {
    const qs = new URLSearchParams(
      Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    const res = await fetch(`${this.ariUrl}${path}${qs ? `?${qs}` : ''}`, {
      method,
      headers: { Authorization: this.auth, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, json, headers: res.headers };
  }

  /** Like `request`, but a non-2xx answer is an error. */
  async call(method: string, path: string, query: Record<string, string | number> = {}, body?: unknown) {
    const r = await this.request(method, path, query, body);
    if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }

  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('client closed'));
    }
    this.waiters = [];
    this.ws?.close();
    this.ws = null;
  }
}
