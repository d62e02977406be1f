import type { Logger } from '../logger.js';

/** How far behind the event loop runs, as a worker's own measure of whether it can take more calls. */
export interface EventLoopLag {
  /** True while the worst lag of the recent window is above the limit. */
  behind(): boolean;
  /** The worst lag of the recent window, ms. */
  lagMs(): number;
  stop(): void;
}

/**
 * Samples the event loop's lag (how late a timer fires) every `sampleMs` and keeps the worst of the
 * last `windowMs`. A worker whose loop lags cannot pace media or answer the PBX in time: a call it
 * claims then is likely to fail, while another worker could carry it. The timer is unref'd.
 */
export function watchEventLoopLag(opts: {
  maxLagMs: number;
  sampleMs?: number;
  windowMs?: number;
  logger?: Logger;
}): EventLoopLag {
  const sampleMs = opts.sampleMs ?? 100;
  const size = Math.max(1, Math.round((opts.windowMs ?? 2000) / sampleMs));
  const recent: number[] = [];
  let last = performance.now();
  let wasBehind = false;
  const worst = () => recent.reduce((m, x) => Math.max(m, x), 0);
  const behind = () => worst() > opts.maxLagMs;
  const timer = setInterval(() => {
    const now = performance.now();
    recent.push(Math.max(0, now - last - sampleMs));
    last = now;
    if (recent.length > size) recent.shift();
    const b = behind();
    if (b !== wasBehind) {
      wasBehind = b;
      if (b)
        opts.logger?.warn(
          { lagMs: Math.round(worst()), maxLagMs: opts.maxLagMs },
          'event loop lags: claiming no new calls',
        );
      else opts.logger?.info('event loop caught up: claiming calls again');
    }
  }, sampleMs);
  timer.unref();
  return { behind, lagMs: worst, stop: () => clearInterval(timer) };
}
