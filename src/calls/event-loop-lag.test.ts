import { afterEach, describe, expect, it } from 'vitest';
import { type EventLoopLag, watchEventLoopLag } from './event-loop-lag.js';

describe('watchEventLoopLag', () => {
  let lag: EventLoopLag | undefined;
  afterEach(() => lag?.stop());

  it('is behind after the loop was blocked, and recovers once it runs freely again', async () => {
    lag = watchEventLoopLag({ maxLagMs: 150, sampleMs: 20, windowMs: 200 });
    // A full window of samples first, so what follows is the block's doing.
    await expect.poll(() => lag?.behind(), { timeout: 20_000 }).toBe(false);
    const until = performance.now() + 600;
    while (performance.now() < until) {
      // Busy: the loop is blocked, as on a saturated machine.
    }
    await expect.poll(() => lag?.behind(), { timeout: 20_000 }).toBe(true);
    expect(lag.lagMs()).toBeGreaterThan(150);
    await expect.poll(() => lag?.behind(), { timeout: 20_000 }).toBe(false);
  });
});
