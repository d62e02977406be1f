import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread from a module URL. The product runs its TypeScript sources through tsx
 * (bin/agentline.js, vitest), and a worker thread does not inherit the parent's loader hooks, so a
 * `.ts` entry is loaded through a tiny bootstrap that registers tsx inside the worker first.
 */
export function startWorker(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap =
    `import(${JSON.stringify(tsx)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })` +
    // An import failure would otherwise surface only as an unhandled rejection inside the worker.
    `.catch((err) => { require('node:worker_threads').parentPort.postMessage({ t: 'init-error', message: String(err && err.stack || err) }); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
