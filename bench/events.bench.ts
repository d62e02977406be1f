/**
 * What the live event streams (GET /v1/agent/calls/{id}/events) cost the call path and the server: a
 * worker-side writer storing N turns + transitions on one call (CallStore.addTurn/transition, published
 * on the live bus as the worker does) with no listener (the baseline, run first and last), with reading
 * SSE listeners and with listeners that never read their sockets; delivery latency from a write's commit
 * to its `turn` arriving at each listener; and the process's memory with stalled listeners attached.
 * Real API on loopback over Postgres (DATABASE_URL; else in-memory PGlite, with a warning). The listeners
 * run in the same process as the server, so CPU and memory include their side (small: a socket each).
 * Run: npm run bench:events   (BENCH_TURNS, BENCH_LISTENERS, BENCH_TURN_BYTES tune it)
 */
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { CallStore } from '../src/calls/call-store.js';
import { openDatabase } from '../src/db/client.js';
import { createLiveBus, type LiveBus } from '../src/events/live-bus.js';
import { silentLogger } from '../src/logger.js';
import { type EventsApi, startEventsApi, waitUntil } from '../test/events/helpers/fixture.js';
import { dataOf, type SseClient } from '../test/events/helpers/sse.js';
import { percentile } from './lib/stats.js';

const TURNS = Number(process.env.BENCH_TURNS ?? 200);
const LISTENERS = Number(process.env.BENCH_LISTENERS ?? 50);
const TURN_BYTES = Number(process.env.BENCH_TURN_BYTES ?? 1000);
const LATENCY_TURNS = Number(process.env.BENCH_LATENCY_TURNS ?? 40);
// Big enough by default that each stalled stream's backlog (~3 MiB) outgrows the loopback socket buffers,
// so the server, not the kernel, would have to hold it.
const STALL_TURN_BYTES = Number(process.env.BENCH_STALL_TURN_BYTES ?? 16_000);
const padding = 'x'.repeat(TURN_BYTES);

interface WriterRow {
  name: string;
  writeMs: number;
  perWriteMs: number;
  cpuMs: number;
  loopBusy: number;
  deliveredMs: number | null;
}

/** The worker's writes for one answered call: dialing, in_progress, N turns, completed. */
async function writeCall(store: CallStore, callId: string, turns: number, text = padding): Promise<number> {
  const t0 = performance.now();
  await store.transition(callId, 'dialing');
  await store.transition(callId, 'in_progress');
  for (let i = 0; i < turns; i++) {
    await store.addTurn(callId, {
      speaker: i % 2 === 0 ? 'agent' : 'callee',
      text: `t${i} ${text}`,
      startMs: i * 1000,
      endMs: i * 1000 + 800,
    });
  }
  await store.transition(callId, 'completed', { reason: 'objective_met', patch: { summary: 'ok' } });
  return performance.now() - t0;
}

interface BenchCall {
  callId: string;
  key: string;
}

let numberSeq = 0;

/** A queued call on a fresh account, so the per-account caps on placing calls never stop the run. */
async function newCall(api: EventsApi): Promise<BenchCall> {
  const { key } = await api.addAccount('bench', `+1415556${String(numberSeq++).padStart(4, '0')}`);
  return { callId: await api.placeCall(key), key };
}

/** Opens `n` reading listeners on the call and waits until each has the placement (so it is subscribed). */
async function openReaders(api: EventsApi, { callId, key }: BenchCall, n: number): Promise<SseClient[]> {
  const clients = await Promise.all(
    Array.from({ length: n }, () => api.stream(`/v1/agent/calls/${callId}/events`, { key })),
  );
  for (const c of clients) {
    if (c.status !== 200) throw new Error(`stream answered ${c.status}`);
    await c.next();
  }
  return clients;
}

/** Raw sockets that send the request, take the first chunk (the stream is open) and never read again. */
async function openStalled(api: EventsApi, { callId, key }: BenchCall, n: number): Promise<net.Socket[]> {
  const { hostname, port } = new URL(api.url);
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(Number(port), hostname, () => {
            socket.write(
              `GET /v1/agent/calls/${callId}/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
                `Authorization: Bearer ${key}\r\nAccept: text/event-stream\r\n\r\n`,
            );
          });
          socket.once('error', reject);
          socket.once('data', (chunk) => {
            socket.pause();
            if (!chunk.toString('latin1').startsWith('HTTP/1.1 200')) reject(new Error('stream refused'));
            else resolve(socket);
          });
        }),
    ),
  );
}

async function writerRow(
  api: EventsApi,
  store: CallStore,
  name: string,
  listeners: 'none' | 'reading' | 'stalled',
): Promise<WriterRow> {
  const call = await newCall(api);
  const { callId } = call;
  const readers = listeners === 'reading' ? await openReaders(api, call, LISTENERS) : [];
  const stalled = listeners === 'stalled' ? await openStalled(api, call, LISTENERS) : [];
  const done = readers.map((c) => c.until((m) => m.event === 'ended').then(() => performance.now()));
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const writeMs = await writeCall(store, callId, TURNS);
  const loopBusy = performance.eventLoopUtilization(elu0).utilization;
  const ends = await Promise.all(done);
  const cpu = process.cpuUsage(cpu0);
  for (const c of readers) c.close();
  for (const s of stalled) s.destroy();
  return {
    name,
    writeMs,
    perWriteMs: writeMs / (TURNS + 3),
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopBusy,
    deliveredMs: ends.length ? Math.max(...ends) - t0 : null,
  };
}

/**
 * A writer on its own pool and bus, as a separate worker process has (role worker): its writes do not
 * queue behind the streams' reads for the API's connections. Postgres only; it shares this process's CPU.
 */
async function ownPoolWriter(api: EventsApi): Promise<{ store: CallStore; close(): Promise<void> } | null> {
  if (!api.db.url) return null;
  const db = await openDatabase({ url: api.db.url, maxConnections: 4 });
  const bus: LiveBus = await createLiveBus(db, silentLogger());
  const store = new CallStore(db.db, api.deps.config.publicBaseUrl);
  store.onWrite = (w) => bus.publish({ kind: 'changed', ...w });
  return {
    store,
    async close() {
      await bus.close();
      await db.close();
    },
  };
}

/** Paced turns: each write waits until every listener has it, so latency is per write, not a queue's. */
async function latencyRow(api: EventsApi, listeners: number) {
  const call = await newCall(api);
  const { callId } = call;
  await api.store.transition(callId, 'dialing');
  await api.store.transition(callId, 'in_progress');
  const readers = await openReaders(api, call, listeners);
  const committedAt: number[] = [];
  const samples: number[] = [];
  let arrivals = 0;
  const reading = readers.map(async (c) => {
    for (;;) {
      const m = await c.next();
      if (!m || m.event === 'ended') return;
      if (m.event !== 'turn') continue;
      const i = Number(dataOf<{ text: string }>(m).text.split(' ')[0].slice(1));
      samples.push(performance.now() - committedAt[i]);
      arrivals++;
    }
  });
  for (let i = 0; i < LATENCY_TURNS; i++) {
    await api.store.addTurn(callId, {
      speaker: 'callee',
      text: `t${i} ${padding}`,
      startMs: i * 1000,
      endMs: i * 1000 + 800,
    });
    committedAt[i] = performance.now();
    await waitUntil(() => arrivals >= (i + 1) * listeners, `turn ${i} reached every listener`, 30_000);
  }
  await api.store.transition(callId, 'completed', { reason: 'objective_met', patch: { summary: 'ok' } });
  await Promise.all(reading);
  for (const c of readers) c.close();
  return { listeners, p50: percentile(samples, 50), p95: percentile(samples, 95), n: samples.length };
}

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  // Encoded SSE bytes waiting for a socket live in ArrayBuffers, outside heapUsed.
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, buffers: m.arrayBuffers / 2 ** 20 };
}

const f = (x: number) => x.toFixed(1);

async function memoryRows(api: EventsApi) {
  const call = await newCall(api);
  const { callId } = call;
  const before = memory();
  const stalled = await openStalled(api, call, LISTENERS);
  const opened = memory();
  await writeCall(api.store, callId, TURNS, 'x'.repeat(STALL_TURN_BYTES));
  // Let the streams push what the sockets will take before they back up.
  await new Promise((r) => setTimeout(r, 1500));
  const written = memory();
  for (const s of stalled) s.destroy();
  await waitUntil(() => api.bus.subscribers === 0, 'every stalled stream let go of the bus');
  const closed = memory();
  return [
    { name: 'before listeners', ...before },
    { name: `${LISTENERS} stalled listeners open`, ...opened },
    {
      name: `… after ${TURNS} turns of ${STALL_TURN_BYTES} B (${f((TURNS * STALL_TURN_BYTES) / 2 ** 20)} MiB a listener) written`,
      ...written,
    },
    { name: '… after they disconnect', ...closed },
  ].map((r) => ({
    ...r,
    dRss: r.rss - before.rss,
    dHeap: r.heap - before.heap,
    dBuffers: r.buffers - before.buffers,
  }));
}

async function main() {
  if (!process.env.DATABASE_URL) {
    console.warn(
      'WARNING: DATABASE_URL is unset; using in-memory PGlite, which is far slower than Postgres.',
    );
  }
  const api = await startEventsApi();
  try {
    console.log(
      `db=${api.db.kind} turns=${TURNS}+3 transitions listeners=${LISTENERS} turnBytes=${TURN_BYTES} ` +
        `cpus=${os.cpus().length} load=${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} gc=${Boolean((globalThis as { gc?: unknown }).gc)}`,
    );
    await writeCall(api.store, (await newCall(api)).callId, 20); // warm-up: connections, JIT, plans
    const shared = api.store;
    const rows = [
      await writerRow(api, shared, 'no listener (baseline)', 'none'),
      await writerRow(api, shared, `${LISTENERS} reading listeners`, 'reading'),
      await writerRow(api, shared, `${LISTENERS} stalled listeners`, 'stalled'),
      await writerRow(api, shared, 'no listener (baseline again)', 'none'),
    ];
    const own = await ownPoolWriter(api);
    if (own) {
      try {
        await writeCall(own.store, (await newCall(api)).callId, 20);
        rows.push(
          await writerRow(api, own.store, 'own pool: no listener', 'none'),
          await writerRow(api, own.store, `own pool: ${LISTENERS} reading listeners`, 'reading'),
          await writerRow(api, own.store, `own pool: ${LISTENERS} stalled listeners`, 'stalled'),
        );
      } finally {
        await own.close();
      }
    }
    const base = rows[0].writeMs;
    console.log(
      '\n| writer: one call (API pool unless "own pool") | write ms | ms/write | vs baseline | process CPU ms | event loop busy | last listener has `ended` ms |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(
        `| ${r.name} | ${f(r.writeMs)} | ${r.perWriteMs.toFixed(2)} | ${(r.writeMs / base).toFixed(2)} | ${f(r.cpuMs)} | ${(r.loopBusy * 100).toFixed(0)}% | ${r.deliveredMs === null ? '-' : f(r.deliveredMs)} |`,
      );
    }

    const lat = [];
    for (const n of [1, 10, LISTENERS]) lat.push(await latencyRow(api, n));
    console.log('\n| delivery: commit → `turn` at listener | p50 ms | p95 ms | samples |');
    console.log('|---|---:|---:|---:|');
    for (const r of lat) console.log(`| ${r.listeners} listener(s) | ${f(r.p50)} | ${f(r.p95)} | ${r.n} |`);

    const mem = await memoryRows(api);
    console.log(
      '\n| process memory (after GC) | RSS MiB | Δ RSS | heap MiB | Δ heap | ArrayBuffers MiB | Δ ArrayBuffers |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of mem) {
      console.log(
        `| ${r.name} | ${f(r.rss)} | ${f(r.dRss)} | ${f(r.heap)} | ${f(r.dHeap)} | ${f(r.buffers)} | ${f(r.dBuffers)} |`,
      );
    }
  } finally {
    await api.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
