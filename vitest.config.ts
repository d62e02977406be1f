import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Two cores in CI: audio tests keep real-time pacing, so too many files at once starve each other.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    // Children spawned with this process's environment place calls at any hour (test/helpers/test-call-window.ts).
    // WORKER_CONCURRENCY=4: the tests were written against a fixed concurrency, and auto would measure the
    // engines at every start (CPU the neighbouring tests need); a test of auto sets it explicitly.
    env: { DEFAULT_CALL_WINDOW: 'always', WORKER_CONCURRENCY: '4' },
  },
});
