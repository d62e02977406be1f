import { describe, expect, it } from 'vitest';
import { createStreamControl, createWriteBacklog, readStreamControl } from './stream-control.js';

describe('what the main thread and its decoder threads tell each other', () => {
  it('marks closed streams and the shutdown for the threads to read', () => {
    const main = createStreamControl(2);
    const thread = readStreamControl(main.buffer, 1);
    expect(thread.skip(7)).toBe(false);
    main.markClosed(7);
    expect(thread.skip(7)).toBe(true);
    expect(thread.skip(8)).toBe(false);
    // A slot taken again 4096 ids later is the newer stream's.
    main.markClosed(7 + 4096);
    expect(thread.skip(7 + 4096)).toBe(true);
    expect(thread.shuttingDown()).toBe(false);
    main.markShutdown();
    expect(thread.shuttingDown()).toBe(true);
    expect(thread.skip(8)).toBe(true);
  });

  it("counts each thread's taken writes apart", () => {
    const main = createStreamControl(2);
    const first = readStreamControl(main.buffer, 0);
    const second = readStreamControl(main.buffer, 1);
    first.tookWrite();
    second.tookWrite();
    second.tookWrite();
    expect([main.processed(0), main.processed(1)]).toEqual([1, 2]);
  });

  it('ages the oldest write not yet taken, across the counter wrapping at 2^31', () => {
    let now = 0;
    let processed = 2 ** 31 - 2;
    const backlog = createWriteBacklog(
      () => processed | 0,
      () => now,
    );
    expect(backlog.ageMs()).toBe(0);
    for (const at of [100, 110, 120, 130]) {
      now = at;
      backlog.posted();
    }
    now = 150;
    expect(backlog.ageMs()).toBe(50);
    processed += 3; // past 2^31 - 1: the int32 counter wraps to negative
    expect(processed | 0).toBeLessThan(0);
    expect(backlog.ageMs()).toBe(20);
    processed += 1;
    expect(backlog.ageMs()).toBe(0);
  });

  it('keeps the age right while thousands of writes are taken and cut off', () => {
    let now = 0;
    let processed = 0;
    const backlog = createWriteBacklog(
      () => processed,
      () => now,
    );
    for (let i = 0; i < 3000; i++) {
      now = i;
      backlog.posted();
      if (i % 2 === 1) processed++;
    }
    now = 3000;
    // 1,500 of 3,000 taken: the oldest waiting was noted at 1,500.
    expect(backlog.ageMs()).toBe(1500);
    processed = 2999;
    expect(backlog.ageMs()).toBe(1);
    processed = 3000;
    expect(backlog.ageMs()).toBe(0);
    now = 3001;
    backlog.posted();
    now = 3010;
    expect(backlog.ageMs()).toBe(9);
  });
});
