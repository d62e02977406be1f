import type { Call, CallStreamEvent } from '../../sdk/node/agentline.js';
import { TERMINAL_STATUSES } from '../calls/status.js';

export interface WaitProgress {
  /** Seconds waited so far; it grows with every notification, as MCP requires. */
  progress: number;
  /** The wait's time limit in seconds. */
  total: number;
  message: string;
}

export interface WaitForCallOptions {
  timeoutSeconds: number;
  intervalSeconds: number;
  heartbeatSeconds: number;
  /** Aborted when the client cancels the request or goes away. */
  signal: AbortSignal;
  /**
   * Told on every status change, each turn as the stream delivers it, and at least every
   * `heartbeatSeconds`; absent when the client gave no progress token.
   */
  onProgress?: (p: WaitProgress) => Promise<void>;
  /**
   * The call's live event stream (the SDK's `callEvents`). With it the wait ends as soon as the call
   * does and polls only now and then; without it, or when it fails (an older server answers 404),
   * it polls every `intervalSeconds`.
   */
  events?: (callId: string, signal: AbortSignal) => AsyncIterable<CallStreamEvent>;
  /** While the stream is open, still poll this often; default STREAM_POLL_SECONDS. */
  streamPollSeconds?: number;
  now?: () => number;
}

export interface WaitResult {
  /** True when the call is in a terminal status; false when the time ran out first. */
  done: boolean;
  call: Call;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);
const PROGRESS_ORDER = ['queued', 'dialing', 'in_progress'];
/** How often the wait still polls while the stream is open, in case something holds the stream back. */
export const STREAM_POLL_SECONDS = 30;
/** A turn's text in a progress message is cut to this many characters. */
const TURN_TEXT_MAX = 300;

/**
 * Waits until a call is terminal or the time is up, and never fails for running out of time: the
 * model gets the call as it stands and calls again. A progress notification on each status change and
 * each turn, and a heartbeat, keep a client that resets its timeout on progress from giving up on a
 * long wait.
 */
export async function waitForCall(
  getCall: (callId: string) => Promise<Call>,
  callId: string,
  opts: WaitForCallOptions,
): Promise<WaitResult> {
  const now = opts.now ?? Date.now;
  const start = now();
  const deadline = start + opts.timeoutSeconds * 1000;
  let lastStatus: string | null = null;
  let lastProgress = 0;
  let lastSentAt = start;

  const notify = async (message: string) => {
    if (!opts.onProgress) return;
    const elapsed = (now() - start) / 1000;
    lastProgress = Math.max(lastProgress + 0.001, Math.round(elapsed * 1000) / 1000);
    lastSentAt = now();
    await opts.onProgress({ progress: lastProgress, total: opts.timeoutSeconds, message });
  };
  // The stream replays the call's history and the polls see it late, so only a status further along
  // than the last one told is news. The result itself reports the end: a notification sent just
  // before it would race the response, and a client that has already closed the request's progress
  // handler reports it as an error.
  const noteStatus = async (status: string) => {
    if (TERMINAL.has(status)) return;
    if (lastStatus !== null && PROGRESS_ORDER.indexOf(status) <= PROGRESS_ORDER.indexOf(lastStatus)) return;
    lastStatus = status;
    await notify(`call ${status}`);
  };

  let call = await getCall(callId);
  if (TERMINAL.has(call.status)) return { done: true, call };
  await noteStatus(call.status);

  const stop = new AbortController();
  const forwardAbort = () => stop.abort();
  opts.signal.addEventListener('abort', forwardAbort, { once: true });
  const waker = new Waker(stop.signal);
  let streaming = false;
  let watcher: Promise<void> = Promise.resolve();
  const openEvents = opts.events;
  if (openEvents && !opts.signal.aborted) {
    streaming = true;
    watcher = (async () => {
      try {
        for await (const ev of openEvents(callId, stop.signal)) {
          if (ev.type === 'status') await noteStatus(ev.data.to);
          else if (ev.type === 'turn') await notify(turnMessage(ev.data.speaker, ev.data.text));
          else if (ev.type === 'ended') break;
        }
      } catch {
        // No stream here (an older server answers 404) or it broke: polling carries on alone, and
        // reports a real error (401, the call gone) itself.
      } finally {
        streaming = false;
        waker.wake();
      }
    })();
  }

  const pollEveryMs = () =>
    (streaming
      ? Math.max(opts.intervalSeconds, opts.streamPollSeconds ?? STREAM_POLL_SECONDS)
      : opts.intervalSeconds) * 1000;
  try {
    let nextPoll = now() + pollEveryMs();
    for (;;) {
      if (waker.takeWoken() || now() >= nextPoll) {
        call = await getCall(callId);
        if (TERMINAL.has(call.status)) return { done: true, call };
        await noteStatus(call.status);
        nextPoll = now() + pollEveryMs();
      }
      const t = now();
      if (t >= deadline || opts.signal.aborted) return { done: false, call };
      if (t - lastSentAt >= opts.heartbeatSeconds * 1000)
        await notify(`call still ${lastStatus ?? call.status} after ${Math.round((t - start) / 1000)} s`);
      const nextBeat = lastSentAt + opts.heartbeatSeconds * 1000;
      const wakeAt = Math.min(nextPoll, deadline, opts.onProgress ? nextBeat : deadline);
      await waker.sleep(Math.max(0, wakeAt - now()));
    }
  } finally {
    opts.signal.removeEventListener('abort', forwardAbort);
    stop.abort();
    await watcher;
  }
}

function turnMessage(speaker: string, text: string): string {
  const cut = text.length > TURN_TEXT_MAX ? `${text.slice(0, TURN_TEXT_MAX - 1)}…` : text;
  return `${speaker}: ${cut}`;
}

/** A sleep that the stream's end (or an abort) cuts short; a wake while awake makes the next sleep return at once. */
class Waker {
  private woken = false;
  private resolveSleep: (() => void) | null = null;

  constructor(private readonly signal: AbortSignal) {}

  wake() {
    this.woken = true;
    this.resolveSleep?.();
  }

  takeWoken(): boolean {
    const w = this.woken;
    this.woken = false;
    return w;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.woken || this.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.resolveSleep = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.resolveSleep = done;
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}
