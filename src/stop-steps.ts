import type { Logger } from './logger.js';

/** What a started process must undo, each under a name its logs can give. */
export interface StopSteps {
  /**
   * Adds a step; steps run in the reverse order of adding (the last started stops first). `detail`
   * says what a slow step is waiting for, in its warning.
   */
  add(name: string, step: () => Promise<void> | void, detail?: () => unknown): void;
  /** Runs every step once, each after the one before has ended; a failing step is logged and passed. */
  run(): Promise<void>;
}

export interface StopStepsOptions {
  /** A step still running after this long is named in a warning, and again each time as long again passes. */
  slowMs?: number;
}

/**
 * The stop sequence of a process. A process that does not exit on SIGTERM is otherwise silent about
 * why: here each step that takes long says so while it waits, so the last lines of the log name it.
 */
export function createStopSteps(logger: Logger, opts: StopStepsOptions = {}): StopSteps {
  const slowMs = opts.slowMs ?? 15_000;
  const steps: { name: string; step: () => Promise<void> | void; detail?: () => unknown }[] = [];
  return {
    add(name, step, detail) {
      steps.push({ name, step, detail });
    },
    async run() {
      const todo = steps.splice(0).reverse();
      for (const { name, step, detail } of todo) {
        const started = performance.now();
        const slow = setInterval(() => {
          logger.warn(
            {
              step: name,
              seconds: Math.round((performance.now() - started) / 1000),
              ...(detail ? { waitingFor: detail() } : {}),
            },
            'still stopping: a step has not ended',
          );
        }, slowMs);
        // The warning must never be what keeps a process alive.
        slow.unref();
        try {
          await step();
        } catch (err) {
          logger.error({ err, step: name }, 'error while stopping');
        } finally {
          clearInterval(slow);
        }
      }
    },
  };
}
