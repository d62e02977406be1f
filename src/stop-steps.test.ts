import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createStopSteps } from './stop-steps.js';

function capture(onLine: (line: Record<string, unknown>) => void = () => {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', {
    write: (s: string) => {
      const line = JSON.parse(s) as Record<string, unknown>;
      lines.push(line);
      onLine(line);
    },
  });
  return { lines, logger };
}

describe('the stop sequence of a process', () => {
  it('runs the steps last-added first, goes past a failing one, and runs each only once', async () => {
    const { lines, logger } = capture();
    const ran: string[] = [];
    const steps = createStopSteps(logger);
    steps.add('database', () => void ran.push('database'));
    steps.add('worker', () => {
      ran.push('worker');
      throw new Error('the worker would not stop');
    });
    steps.add('server', async () => void ran.push('server'));
    await steps.run();
    await steps.run();
    expect(ran).toEqual(['server', 'worker', 'database']);
    const failed = lines.find((l) => l.msg === 'error while stopping');
    expect(failed).toMatchObject({ step: 'worker', err: { message: 'the worker would not stop' } });
  });

  it('names a step that takes long, with what it waits for, until it ends', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    let warnings = 0;
    const { lines, logger } = capture((line) => {
      // The step ends once it has been named twice: the warning repeats while it waits.
      if (line.msg === 'still stopping: a step has not ended' && ++warnings === 2) release();
    });
    const steps = createStopSteps(logger, { slowMs: 20 });
    steps.add('database', () => {});
    steps.add(
      'call worker',
      () => stuck,
      () => 'draining live calls (2 calls running)',
    );
    await steps.run();
    const slow = lines.filter((l) => l.msg === 'still stopping: a step has not ended');
    expect(slow).toHaveLength(2);
    expect(slow[0]).toMatchObject({
      level: 40,
      step: 'call worker',
      waitingFor: 'draining live calls (2 calls running)',
    });
    expect(typeof slow[0].seconds).toBe('number');
    // Nothing is named once the step is over: the quick step after it stays quiet.
    expect(lines.every((l) => l.step !== 'database')).toBe(true);
  });
});
