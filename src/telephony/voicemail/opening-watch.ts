import { BeepDetector } from './beep-detector.js';
import { GreetingDetector, type GreetingVerdict } from './greeting-detector.js';

export interface OpeningWatchOptions {
  sampleRate: number;
  /** For how long after answer a beep still counts (a voicemail that AMD took for a person). */
  beepWatchMs: number;
}

/**
 * What the callee's side sounded like from the moment of answer: a voicemail beep (only within
 * `beepWatchMs`), the shape of the opening utterance (GreetingDetector), and how long the line has been
 * quiet since the last sound. It hears the line while AMD() still runs in the dialplan, so a greeting
 * that ended before AMD's verdict came back is known when it does.
 */
export class OpeningWatch {
  private readonly beepDetector: BeepDetector;
  private readonly greeting: GreetingDetector;
  private readonly beepWatchMs: number;
  private readonly sampleRate: number;
  private readonly frameListeners = new Set<() => void>();
  private readonly beepListeners = new Set<() => void>();
  private heardMs = 0;
  private beepAt: number | null = null;

  constructor(opts: OpeningWatchOptions) {
    this.beepDetector = new BeepDetector({ sampleRate: opts.sampleRate });
    this.greeting = new GreetingDetector({ sampleRate: opts.sampleRate });
    this.sampleRate = opts.sampleRate;
    this.beepWatchMs = opts.beepWatchMs;
  }

  /** Milliseconds of callee audio heard since answer when the beep was heard; null before (or never). */
  get beepHeardAtMs(): number | null {
    return this.beepAt;
  }

  /** The opening utterance's shape, once it is clear (see GreetingDetector). */
  get verdict(): GreetingVerdict | null {
    return this.greeting.verdict;
  }

  /** Continuous quiet up to now, counted once something was heard (0 before any sound). */
  get silenceMs(): number {
    return this.greeting.silenceMs;
  }

  /** Feeds one 20 ms frame of callee audio. */
  push(frame: Int16Array): void {
    if (frame.length === 0) return;
    this.heardMs += (frame.length * 1000) / this.sampleRate;
    this.greeting.push(frame);
    if (this.beepAt === null && this.heardMs <= this.beepWatchMs && this.beepDetector.push(frame)) {
      this.beepAt = this.heardMs;
      for (const l of [...this.beepListeners]) l();
    }
    for (const l of [...this.frameListeners]) l();
  }

  /** Called once, when a beep is heard within the watch (at once if it was heard already). */
  onBeep(listener: () => void): () => void {
    if (this.beepAt !== null) {
      listener();
      return () => {};
    }
    const once = () => {
      this.beepListeners.delete(once);
      listener();
    };
    this.beepListeners.add(once);
    return () => this.beepListeners.delete(once);
  }

  /**
   * Resolves with the first non-null answer of `test`, asked now and after each frame, or with
   * 'timeout' after `timeoutMs`. The timer and the listener go once it resolves, or when `signal`
   * aborts (then it never resolves: the caller's own guard ends the wait).
   */
  until<T>(test: () => T | null, timeoutMs: number, signal: AbortSignal): Promise<T | 'timeout'> {
    return new Promise((resolve) => {
      const now = test();
      if (now !== null) return resolve(now);
      const done = (v: T | 'timeout') => {
        clearTimeout(timer);
        this.frameListeners.delete(check);
        signal.removeEventListener('abort', stop);
        resolve(v);
      };
      const check = () => {
        const v = test();
        if (v !== null) done(v);
      };
      const stop = () => {
        clearTimeout(timer);
        this.frameListeners.delete(check);
      };
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      this.frameListeners.add(check);
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  }
}
