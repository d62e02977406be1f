import type { Call } from '../../sdk/node/agentline.js';
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
  /** Told on every status change and at least every `heartbeatSeconds`; absent when the client gave no progress token. */
  onProgress?: (p: WaitProgress) => Promise<void>;
  now?: () => number;
}

export interface WaitResult {
  /** True when the call is in a terminal status; false when the time ran out first. */
  done: boolean;
  call: Call;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

/**
 * Polls a call until it is terminal or the time is up, and never fails for running out of time: the
 * model gets the call as it stands and calls again. A progress notification on each status change and
 * a heartbeat keep a client that resets its timeout on progress from giving up on a long wait.
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

  for (;;) {
    const call = await getCall(callId);
    // The result itself reports the end; a notification sent just before it would race the response,
    // and a client that has already closed the request's progress handler reports it as an error.
    if (TERMINAL.has(call.status)) return { done: true, call };
    if (call.status !== lastStatus) {
      await notify(`call ${call.status}`);
      lastStatus = call.status;
    }
    const t = now();
    if (t >= deadline || opts.signal.aborted) return { done: false, call };
    if (t - lastSentAt >= opts.heartbeatSeconds * 1000)
      await notify(`call still ${call.status} after ${Math.round((t - start) / 1000)} s`);
    const nextBeat = lastSentAt + opts.heartbeatSeconds * 1000;
    const wake = Math.min(t + opts.intervalSeconds * 1000, deadline, opts.onProgress ? nextBeat : deadline);
    await sleep(Math.max(0, wake - now()), opts.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
