import type { Logger } from '../logger.js';
import type { MediaClock } from '../telephony/media/clock.js';
import { createFrameMixer, type FrameMixer } from './frame-mixer.js';

/** What a live call's media path offers a listener: the same hooks the voice agent uses. */
export interface ListenSource {
  readonly sampleRate: number;
  onFrame(listener: (frame: Int16Array) => void): () => void;
  onFrameSent(listener: (info: { frame?: Int16Array }) => void): () => void;
}

/** Where one listener's audio goes (a browser's WebSocket). */
export interface ListenSink {
  /** Whether the transport takes another frame now; false holds frames in the listener's queue. */
  ready(): boolean;
  /** Sends one mixed frame; must not block. */
  write(frame: Int16Array): void;
  /** The listening is over (the call ended, the server stops): `reason` says why. */
  close(reason: string): void;
}

export interface ListenSubscription {
  readonly sampleRate: number;
  /** Frames dropped so far because the sink fell behind. */
  readonly dropped: number;
  /** Sends what the queue holds as far as the sink is ready (call it when the sink drained). */
  pump(): void;
  /** Stops listening (the sink is not closed by this). */
  stop(): void;
}

export const CALL_ENDED_REASON = 'call ended';
export const HUB_CLOSED_REASON = 'server shutting down';

/** A listener and the frames it has not taken yet; the oldest go first when it falls behind. */
class Listener implements ListenSubscription {
  private queue: Int16Array[] = [];
  dropped = 0;
  constructor(
    readonly sampleRate: number,
    readonly sink: ListenSink,
    private readonly maxQueuedFrames: number,
    private readonly leave: (l: Listener) => void,
  ) {}

  offer(frame: Int16Array): void {
    this.queue.push(frame);
    if (this.queue.length > this.maxQueuedFrames) {
      this.queue.shift();
      this.dropped++;
    }
    this.pump();
  }

  pump(): void {
    while (this.queue.length > 0 && this.sink.ready()) this.sink.write(this.queue.shift()!);
  }

  stop(): void {
    this.queue = [];
    this.leave(this);
  }
}

/**
 * One live call's tap. It holds no buffer and no subscription until someone listens, and lets go of
 * both when the last listener leaves, so an unheard call pays nothing for it.
 */
class CallTap {
  readonly listeners = new Set<Listener>();
  private mixer: FrameMixer | null = null;
  private offs: (() => void)[] = [];

  constructor(
    readonly source: ListenSource,
    private readonly opts: { clock?: MediaClock; logger?: Logger; callId: string },
  ) {}

  get mixing(): boolean {
    return this.mixer !== null;
  }

  add(listener: Listener): void {
    this.listeners.add(listener);
    if (this.mixer) return;
    const mixer = createFrameMixer({
      sampleRate: this.source.sampleRate,
      clock: this.opts.clock,
      onMixed: (frame) => {
        for (const l of this.listeners) l.offer(frame);
      },
      onError: (err) =>
        this.opts.logger?.warn({ err, callId: this.opts.callId }, 'live listen mixing failed'),
    });
    this.mixer = mixer;
    this.offs = [
      this.source.onFrame((f) => mixer.pushInbound(f)),
      this.source.onFrameSent((info) => {
        if (info.frame) mixer.pushOutbound(info.frame);
      }),
    ];
    mixer.start();
  }

  remove(listener: Listener): void {
    if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
    this.release();
  }

  /** Ends every listener with `reason` and drops the subscriptions. */
  end(reason: string): void {
    const listeners = [...this.listeners];
    this.listeners.clear();
    this.release();
    for (const l of listeners) {
      try {
        l.sink.close(reason);
      } catch (err) {
        this.opts.logger?.warn({ err, callId: this.opts.callId }, 'closing a live listener failed');
      }
    }
  }

  private release(): void {
    for (const off of this.offs.splice(0)) off();
    this.mixer?.stop();
    this.mixer = null;
  }
}

export interface ListenHubOptions {
  clock?: MediaClock;
  logger?: Logger;
  /** Mixed frames a listener may have waiting before its oldest is dropped (default 25: half a second). */
  maxQueuedFrames?: number;
}

export type ListenResult = { ok: true; subscription: ListenSubscription } | { ok: false; reason: 'not_live' };

/**
 * The live calls of this process that can be listened to, by call ID. A call registers its media path
 * while it is live and unregisters at its end, which closes its listeners. Listening is read-only: a
 * listener only ever gets the mix of both parties, and never waits on or slows the media path.
 */
export class ListenHub {
  private readonly taps = new Map<string, CallTap>();
  private closed = false;

  constructor(private readonly opts: ListenHubOptions = {}) {}

  /** Makes `callId` listenable; the returned function ends that (its listeners are closed with `reason`). */
  register(callId: string, source: ListenSource): (reason?: string) => void {
    if (this.closed) return () => {};
    this.taps.get(callId)?.end(CALL_ENDED_REASON);
    const tap = new CallTap(source, { callId, clock: this.opts.clock, logger: this.opts.logger });
    this.taps.set(callId, tap);
    return (reason = CALL_ENDED_REASON) => {
      if (this.taps.get(callId) !== tap) return;
      this.taps.delete(callId);
      tap.end(reason);
    };
  }

  isLive(callId: string): boolean {
    return this.taps.has(callId);
  }

  /** Starts sending the call's mix to `sink`, or says the call is not live here. */
  listen(callId: string, sink: ListenSink): ListenResult {
    const tap = this.taps.get(callId);
    if (!tap) return { ok: false, reason: 'not_live' };
    const listener = new Listener(tap.source.sampleRate, sink, this.opts.maxQueuedFrames ?? 25, (l) =>
      tap.remove(l),
    );
    tap.add(listener);
    return { ok: true, subscription: listener };
  }

  /** How a call's tap stands (for tests and metrics): listeners, and whether it mixes. */
  inspect(callId: string): { listeners: number; mixing: boolean } | null {
    const tap = this.taps.get(callId);
    return tap ? { listeners: tap.listeners.size, mixing: tap.mixing } : null;
  }

  /** Closes every listener (the process stops); later registrations are ignored. */
  close(reason = HUB_CLOSED_REASON): void {
    this.closed = true;
    for (const tap of this.taps.values()) tap.end(reason);
    this.taps.clear();
  }
}
