/**
 * Outbound at scale on PostgreSQL: what it costs to accept a 10,000-row batch through the real HTTP API,
 * and how many calls per second the queue can feed workers.
 *
 * 1. Accepting: POST /v1/agent/batches with 10,000 JSON rows and with the same rows as a CSV upload
 *    (multipart), beside the baseline measured in the same run: single calls through POST /v1/agent/calls,
 *    one at a time and 8 in flight. Wall time, rows/s, request size, this process's CPU seconds (server
 *    and client share it; the client only sends prepared bodies) and the database's load as deltas of
 *    pg_stat_database for the bench's own database, then the table sizes.
 * 2. Claim/dispatch: 1, 2 and 4 CallWorkers (each on its own connection pool, as separate processes
 *    would have; here they share this process and its event loop) with the real claim, the DialGate
 *    and the account/trunk limits, on a queued 10,000-row batch, with a runner that dials nothing: it
 *    reports `dialing` (the trunk pacer's wait included), `originated`, then ends the call
 *    failed/bench_no_dial. Then the same with TRUNK_MAX_CPS. In each run another account places one
 *    single call halfway through: how long it waited and how many batch calls were launched ahead of it
 *    (fair share). Each run ends BENCH_DRAIN calls (500) and the rest of the batch is canceled through
 *    the API (timed as well): the cost of a call grows with the batch (the claim ranks every due call,
 *    each end counts the batch's calls), so the rate is the one at a full queue, and a whole 10,000-row
 *    drain takes minutes (BENCH_DRAIN=all).
 *
 * pg_stat_database counters are flushed by a backend at most once a second, and up to 10 s late when it
 * goes idle; an exiting backend flushes at once. So the API's pool lets a connection go after a second
 * idle, the workers' pools are closed after each run, and each reading waits until no client is
 * connected to the bench's database (reconnecting costs each phase a few ms). Counters include
 * autovacuum's work on the database, not the bench's own readings (taken from the server's `postgres`
 * database).
 *
 * Run: DATABASE_URL=postgres://… npm run bench:batch
 *   BENCH_ROWS (10000), BENCH_SINGLES (1000), BENCH_DRAIN (500 calls a worker run ends; "all" drains
 *   the batch), BENCH_WORKERS ("1,2,4"), BENCH_WORKER_CONCURRENCY (50), BENCH_CPS (200; 0 skips that run),
 *   BENCH_CPS_WORKERS (2) tune it.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { and, count, eq, isNull } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { CallControl, CallRunner } from '../src/calls/call-runner.js';
import { CallStore } from '../src/calls/call-store.js';
import { createDialGate } from '../src/calls/dial-gate.js';
import { createTrunkPacer } from '../src/calls/trunk-pacer.js';
import { type CallWorker, createCallWorker, newWorkerId } from '../src/calls/worker.js';
import { type Database, type Db, openDatabase } from '../src/db/client.js';
import * as schema from '../src/db/schema.js';
import { calls } from '../src/db/schema.js';
import { silentLogger } from '../src/logger.js';
import { startTestApi, type TestApi } from '../test/helpers/api-fixtures.js';
import { createTestDatabase } from '../test/helpers/test-db.js';
import { percentile, table } from './lib/stats.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const SINGLES = Number(process.env.BENCH_SINGLES ?? 1_000);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 50);
const CPS = Number(process.env.BENCH_CPS ?? 200);
/** Calls each worker run ends before it stops (the rest of the batch is canceled); "all" drains it. */
const DRAIN =
  process.env.BENCH_DRAIN === 'all' ? ROWS : Math.min(ROWS, Number(process.env.BENCH_DRAIN ?? 500));
const CPS_WORKERS = Number(process.env.BENCH_CPS_WORKERS ?? 2);
/** Connections per worker pool (the server's default pool size). */
const WORKER_POOL = 10;

/**
 * The API's pool: openDatabase's postgres.js client, except that a connection ends after a second idle,
 * so its backend flushes its counters (see DbLoad).
 */
function idlingPool(url: string): { db: Db; end(): Promise<void> } {
  const client = postgres(url, {
    max: 10,
    idle_timeout: 1,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'agentline' },
  });
  return { db: drizzle(client, { schema }) as unknown as Db, end: () => client.end({ timeout: 5 }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// Database load: pg_stat_database deltas

interface DbCounters {
  xact_commit: number;
  xact_rollback: number;
  tup_inserted: number;
  tup_updated: number;
  tup_deleted: number;
  tup_fetched: number;
  blks_read: number;
  blks_hit: number;
}

const COUNTERS: (keyof DbCounters)[] = [
  'xact_commit',
  'xact_rollback',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'tup_fetched',
  'blks_read',
  'blks_hit',
];

class DbLoad {
  constructor(
    /** A connection to another database of the same server, so readings do not count themselves. */
    private readonly admin: postgres.Sql,
    private readonly dbName: string,
  ) {}

  /**
   * Waits until no client is connected to the bench's database (the API's pool lets connections go
   * after a second idle, the workers' pools are closed): a backend flushes its counters as it exits.
   */
  async read(): Promise<DbCounters> {
    const { admin, dbName } = this;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [{ n }] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where datname = ${dbName} and backend_type = 'client backend'`;
      if (n === 0) break;
      if (Date.now() > deadline) throw new Error(`${n} connections to ${dbName} stay open`);
      await sleep(50);
    }
    await admin`select pg_stat_clear_snapshot()`;
    const [row] = await admin<Record<keyof DbCounters, string>[]>`
      select ${admin(COUNTERS)} from pg_stat_database where datname = ${dbName}`;
    return Object.fromEntries(COUNTERS.map((k) => [k, Number(row[k])])) as unknown as DbCounters;
  }
}

const delta = (a: DbCounters, b: DbCounters): DbCounters =>
  Object.fromEntries(COUNTERS.map((k) => [k, b[k] - a[k]])) as unknown as DbCounters;

// ---------------------------------------------------------------------------------------------------
// Workload

const TEMPLATE = {
  objective: 'Remind {{name}} of the appointment at {{time}} and ask whether they will come.',
  context: 'Clinic: {{clinic}}. Be brief.',
  fields: [{ name: 'confirmed', type: 'boolean' as const }],
  metadata: { campaign: 'bench' },
};
const AREA_CODES = ['212', '312', '303', '415', '617', '713', '206', '305'];

/** Row i's number: distinct for i < 10,000 and spread over area codes of four US time zones. */
function numberFor(i: number, salt = 0): string {
  const area = AREA_CODES[(i + salt) % AREA_CODES.length];
  const exchange = `${2 + ((i + salt) % 8)}${String(Math.floor(i / 8) % 100).padStart(2, '0')}`;
  return `+1${area}${exchange}${String(i % 10_000).padStart(4, '0')}`;
}

function rowsJson(n: number, salt: number) {
  return Array.from({ length: n }, (_, i) => ({
    to: numberFor(i, salt),
    variables: { name: `Patient ${i}`, time: `${1 + (i % 12)} pm`, clinic: 'North' },
    metadata: { patient: `P-${i}` },
  }));
}

function rowsCsv(n: number, salt: number): string {
  const lines = ['to,name,time,clinic,metadata.patient'];
  for (let i = 0; i < n; i++)
    lines.push(`${numberFor(i, salt)},Patient ${i},${1 + (i % 12)} pm,North,P-${i}`);
  return `${lines.join('\n')}\n`;
}

interface AcceptRow {
  name: string;
  items: number;
  wallS: number;
  perS: number;
  requestBytes: number;
  responseBytes: number;
  cpuS: number;
  db: DbCounters;
}

interface BatchAnswer {
  batchId: string;
  acceptedRows: number;
  refusedRows: number;
  refused: { code: string; message: string }[];
}

async function measured<T>(
  load: DbLoad,
  fn: () => Promise<T>,
): Promise<{ result: T; wallS: number; cpuS: number; loopBusy: number; db: DbCounters }> {
  const before = await load.read();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const result = await fn();
  const wallS = (performance.now() - t0) / 1000;
  const loopBusy = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  const after = await load.read();
  return { result, wallS, cpuS: (cpu.user + cpu.system) / 1e6, loopBusy, db: delta(before, after) };
}

async function postBatch(api: TestApi, body: string | Uint8Array, headers: Record<string, string>) {
  const res = await api.request('/v1/agent/batches', { method: 'POST', body, headers });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`batch answered ${res.status}: ${text.slice(0, 500)}`);
  const answer = JSON.parse(text) as BatchAnswer;
  if (answer.refusedRows > 0)
    throw new Error(`${answer.refusedRows} rows refused, e.g. ${JSON.stringify(answer.refused[0])}`);
  return { answer, responseBytes: Buffer.byteLength(text) };
}

async function acceptJsonBatch(api: TestApi, load: DbLoad, name: string, rows: number, salt: number) {
  const body = JSON.stringify({ name, template: TEMPLATE, rows: rowsJson(rows, salt) });
  const m = await measured(load, () => postBatch(api, body, {}));
  const row: AcceptRow = {
    name,
    items: rows,
    wallS: m.wallS,
    perS: rows / m.wallS,
    requestBytes: Buffer.byteLength(body),
    responseBytes: m.result.responseBytes,
    cpuS: m.cpuS,
    db: m.db,
  };
  return { row, batchId: m.result.answer.batchId };
}

async function acceptCsvBatch(api: TestApi, load: DbLoad, name: string, rows: number, salt: number) {
  const form = new FormData();
  form.set('batch', JSON.stringify({ name, template: TEMPLATE }));
  form.set('rows', new Blob([rowsCsv(rows, salt)], { type: 'text/csv' }), 'rows.csv');
  // Encoded once up front, so the measurement holds the upload, not the encoding.
  const encoded = new Request('http://x/', { method: 'POST', body: form });
  const contentType = encoded.headers.get('content-type')!;
  const bytes = new Uint8Array(await encoded.arrayBuffer());
  const m = await measured(load, () => postBatch(api, bytes, { 'content-type': contentType }));
  const row: AcceptRow = {
    name,
    items: rows,
    wallS: m.wallS,
    perS: rows / m.wallS,
    requestBytes: bytes.byteLength,
    responseBytes: m.result.responseBytes,
    cpuS: m.cpuS,
    db: m.db,
  };
  return { row, batchId: m.result.answer.batchId };
}

async function placeSingles(
  api: TestApi,
  load: DbLoad,
  name: string,
  n: number,
  inFlight: number,
  salt: number,
) {
  const bodies = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      to: numberFor(i, salt),
      objective: `Remind Patient ${i} of the appointment at 7 pm and ask whether they will come.`,
      context: 'Clinic: North. Be brief.',
      fields: TEMPLATE.fields,
      metadata: { campaign: 'bench', patient: `P-${i}` },
    }),
  );
  let requestBytes = 0;
  let responseBytes = 0;
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const body = bodies[next++];
      const res = await api.request('/v1/agent/calls', { method: 'POST', body });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`POST /v1/agent/calls answered ${res.status}: ${text}`);
      requestBytes += Buffer.byteLength(body);
      responseBytes += Buffer.byteLength(text);
    }
  };
  const m = await measured(load, () => Promise.all(Array.from({ length: inFlight }, lane)));
  return {
    name,
    items: n,
    wallS: m.wallS,
    perS: n / m.wallS,
    requestBytes,
    responseBytes,
    cpuS: m.cpuS,
    db: m.db,
  } satisfies AcceptRow;
}

// ---------------------------------------------------------------------------------------------------
// Claim / dispatch

interface DrainRow {
  name: string;
  workers: number;
  /** Calls of the batch queued when the workers started. */
  depth: number;
  /** Calls ended when the run was timed (the drain target and the single), and by the time it stopped. */
  calls: number;
  callsAtStop: number;
  wallS: number;
  claimedPerS: number;
  endedPerS: number;
  dialP50: number;
  dialP95: number;
  cpuS: number;
  loopBusy: number;
  fairWaitMs: number;
  fairAhead: number;
  db: DbCounters;
}

/**
 * Runs `workerCount` workers on the queue until `target` calls of the batch and the fair-share single
 * (another account's call, placed once half the target ended) ended; then stops them (calls still
 * waiting for their `dialing` go back to the queue).
 */
async function drain(
  api: TestApi,
  load: DbLoad,
  opts: {
    name: string;
    workerCount: number;
    depth: number;
    target: number;
    otherKey: string;
    cps?: number;
  },
): Promise<DrainRow> {
  const url = api.db.url!;
  const config = api.deps.config;
  const pools: Database[] = [];
  for (let i = 0; i < opts.workerCount; i++)
    pools.push(await openDatabase({ url, maxConnections: WORKER_POOL }));

  const claimToDialing: number[] = [];
  /** Each launch (the worker claimed the call and its gate let it dial): when, and which call. */
  const launches: { at: number; callId: string }[] = [];
  let ended = 0;
  let singleEnded = false;
  let single: { callId: string; sentAt: number } | null = null;
  let placing: Promise<void> | null = null;
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });

  const placeSingle = async () => {
    const sentAt = performance.now();
    const res = await api.request('/v1/agent/calls', {
      method: 'POST',
      key: opts.otherKey,
      body: JSON.stringify({ to: '+12125550142', objective: 'Confirm the delivery window for tomorrow.' }),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`single call answered ${res.status}: ${text}`);
    single = { callId: (JSON.parse(text) as { callId: string }).callId, sentAt };
  };

  const runner: CallRunner = {
    async run(ctl: CallControl) {
      launches.push({ at: performance.now(), callId: ctl.call.id });
      const claimedAt = ctl.call.claimedAt?.getTime() ?? Date.now();
      await ctl.dialing();
      if (ctl.call.status !== 'dialing') return;
      claimToDialing.push(Date.now() - claimedAt);
      ctl.originated?.();
      await ctl.end({ status: 'failed', endedReason: 'bench_no_dial' });
      if (ctl.call.batchId === null) singleEnded = true;
      else ended++;
      if (ended === Math.floor(opts.target / 2) && !placing) placing = placeSingle().catch(fail);
      if (ended >= opts.target && singleEnded) finish();
    },
  };

  const workers: CallWorker[] = pools.map((pool) => {
    const workerId = newWorkerId();
    return createCallWorker({
      db: pool.db,
      store: new CallStore(pool.db, config.publicBaseUrl),
      runner,
      logger: silentLogger(),
      workerId,
      concurrency: WORKER_CONCURRENCY,
      pollMs: config.WORKER_POLL_MS,
      staleSeconds: config.WORKER_STALE_SECONDS,
      limits: config,
      gate: createDialGate({ db: pool.db, config }),
      pacer: opts.cps ? createTrunkPacer({ db: pool.db, maxCps: opts.cps, workerId }) : undefined,
    });
  });

  const m = await measured(load, async () => {
    const t0 = performance.now();
    await Promise.all(workers.map((w) => w.start()));
    await finished;
    const endedAt = performance.now();
    const atFinish = { ended: ended + 1, launched: launches.length };
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(pools.map((p) => p.close()));
    return { t0, endedAt, atFinish };
  });
  const { t0, endedAt, atFinish } = m.result;
  const s = single as { callId: string; sentAt: number } | null;
  const singleAt = launches.find((l) => l.callId === s?.callId)?.at;
  if (!s || singleAt === undefined) throw new Error('the single call was never launched');
  const wallS = (endedAt - t0) / 1000;
  return {
    name: opts.name,
    workers: opts.workerCount,
    depth: opts.depth,
    calls: atFinish.ended,
    callsAtStop: ended + 1,
    wallS,
    claimedPerS: atFinish.launched / wallS,
    endedPerS: atFinish.ended / wallS,
    dialP50: percentile(claimToDialing, 50),
    dialP95: percentile(claimToDialing, 95),
    cpuS: m.cpuS,
    loopBusy: m.loopBusy,
    fairWaitMs: singleAt - s.sentAt,
    fairAhead: launches.filter((l) => l.at > s.sentAt && l.at < singleAt).length,
    db: m.db,
  };
}

interface CancelRow {
  name: string;
  items: number;
  wallS: number;
  cpuS: number;
  db: DbCounters;
}

/** POST /v1/agent/batches/{id}/cancel: every queued call of the batch ends failed/canceled. */
async function cancelBatch(api: TestApi, load: DbLoad, name: string, batchId: string): Promise<CancelRow> {
  const [{ n }] = await api.db.db
    .select({ n: count() })
    .from(calls)
    .where(and(eq(calls.batchId, batchId), eq(calls.status, 'queued')));
  const m = await measured(load, async () => {
    const res = await api.request(`/v1/agent/batches/${batchId}/cancel`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`cancel answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  });
  return { name, items: Number(n), wallS: m.wallS, cpuS: m.cpuS, db: m.db };
}

// ---------------------------------------------------------------------------------------------------

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);

function acceptTable(rows: AcceptRow[]): string {
  return table(
    [
      'case',
      'items',
      'wall s',
      'items/s',
      'req MiB',
      'resp MiB',
      'CPU s',
      'commits',
      'tup ins',
      'tup upd',
      'blks read',
      'blks hit',
    ],
    rows.map((r) => [
      r.name,
      String(r.items),
      r.wallS.toFixed(2),
      Math.round(r.perS),
      mib(r.requestBytes),
      mib(r.responseBytes),
      r.cpuS.toFixed(2),
      r.db.xact_commit,
      r.db.tup_inserted,
      r.db.tup_updated,
      r.db.blks_read,
      r.db.blks_hit,
    ]),
  );
}

function perItemTable(rows: { name: string; items: number; db: DbCounters; cpuS: number }[]): string {
  return table(
    ['case', 'CPU ms/item', 'commits/item', 'ins/item', 'upd/item', 'fetched/item', 'blks hit/item'],
    rows.map((r) => [
      r.name,
      ((r.cpuS * 1000) / r.items).toFixed(2),
      (r.db.xact_commit / r.items).toFixed(2),
      (r.db.tup_inserted / r.items).toFixed(2),
      (r.db.tup_updated / r.items).toFixed(2),
      (r.db.tup_fetched / r.items).toFixed(1),
      (r.db.blks_hit / r.items).toFixed(1),
    ]),
  );
}

async function tableSizes(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rels = await sql<{ rel: string; total: string; indexes: string }[]>`
      select c.relname as rel, pg_total_relation_size(c.oid) as total, pg_indexes_size(c.oid) as indexes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r' and pg_total_relation_size(c.oid) > 64 * 1024
      order by pg_total_relation_size(c.oid) desc`;
    const rows = [];
    for (const r of rels) {
      const [{ n }] = await sql<{ n: string }[]>`select count(*) as n from ${sql(r.rel)}`;
      rows.push({ ...r, rows: n });
    }
    const [{ size }] = await sql<{ size: string }[]>`select pg_database_size(current_database()) as size`;
    return { rows, size: Number(size) };
  } finally {
    await sql.end();
  }
}

async function main() {
  const base = process.env.DATABASE_URL;
  if (!base) {
    console.error(
      'bench:batch measures PostgreSQL: set DATABASE_URL to a server where this role may create databases,\n' +
        'e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:batch',
    );
    process.exitCode = 2;
    return;
  }
  const started = performance.now();
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  const t = await createTestDatabase();
  const dbName = new URL(t.url!).pathname.slice(1);
  // The migration's pool is never used again: its connections end now, the API gets its own pool.
  await admin`select pg_terminate_backend(pid) from pg_stat_activity
    where datname = ${dbName} and backend_type = 'client backend'`;
  const pool = idlingPool(t.url!);
  const api = await startTestApi({
    db: { ...t, db: pool.db },
    env: {
      DEFAULT_CALL_WINDOW: 'always',
      CAP_CALLS_PER_MINUTE: '1000000',
      CAP_CONCURRENT_CALLS: '100000',
      CAP_CALLS_PER_DAY: '10000000',
      CAP_MINUTES_PER_MONTH: '100000000',
    },
  });
  try {
    const load = new DbLoad(admin, dbName);
    const other = await api.addAccount('other', '+14155550199');
    const [{ server_version }] = await admin<{ server_version: string }[]>`show server_version`;
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `CPU: ${cpu}, ${os.cpus().length} cores; PostgreSQL ${server_version}; Node ${process.version}; ` +
        `rows=${ROWS} singles=${SINGLES} worker concurrency=${WORKER_CONCURRENCY}`,
    );

    // 1. Accepting.
    const accept: AcceptRow[] = [];
    accept.push(await placeSingles(api, load, 'single calls, 1 in flight', SINGLES, 1, 1));
    accept.push(await placeSingles(api, load, 'single calls, 8 in flight', SINGLES, 8, 2));
    const a = await acceptJsonBatch(api, load, 'batch, JSON rows', ROWS, 3);
    accept.push(a.row);
    const b = await acceptCsvBatch(api, load, 'batch, CSV (multipart)', ROWS, 4);
    accept.push(b.row);
    const sizes = await tableSizes(api.db.url!);

    // 2. Claim / dispatch. The single calls leave the queue; each run takes one running batch (the
    // others paused), drains DRAIN calls of it, and cancels the rest.
    await api.db.db.delete(calls).where(and(eq(calls.accountId, api.accountId), isNull(calls.batchId)));
    const setStatus = async (id: string, action: 'pause' | 'resume') => {
      const res = await api.request(`/v1/agent/batches/${id}/${action}`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`${action} answered ${res.status}: ${await res.text()}`);
    };
    const runs: { workers: number; cps?: number }[] = WORKER_COUNTS.map((w) => ({ workers: w }));
    if (CPS > 0) runs.push({ workers: CPS_WORKERS, cps: CPS });
    const ready = [a.batchId, b.batchId];
    await setStatus(b.batchId, 'pause');
    const drains: DrainRow[] = [];
    const cancels: CancelRow[] = [];
    for (const [i, run] of runs.entries()) {
      let batchId = ready[i];
      if (!batchId) {
        const again = await acceptJsonBatch(api, load, `batch, JSON rows (run ${i + 1})`, ROWS, 10 + i);
        accept.push(again.row);
        batchId = again.batchId;
      } else if (i > 0) await setStatus(batchId, 'resume');
      const name = `${run.workers} worker${run.workers > 1 ? 's' : ''}${run.cps ? `, TRUNK_MAX_CPS=${run.cps}` : ''}`;
      drains.push(
        await drain(api, load, {
          name,
          workerCount: run.workers,
          depth: ROWS,
          target: DRAIN,
          otherKey: other.key,
          cps: run.cps,
        }),
      );
      if (DRAIN < ROWS) cancels.push(await cancelBatch(api, load, `cancel after ${name}`, batchId));
      process.stdout.write('.');
    }
    process.stdout.write('\n');

    console.log('\nAccepting calls through the HTTP API (server and client in this process)\n');
    console.log(acceptTable(accept));
    console.log('\nPer call accepted\n');
    console.log(perItemTable(accept));
    console.log(
      `\nTables after accepting ${2 * SINGLES} single calls and ${2 * ROWS} batch rows ` +
        `(database ${mib(sizes.size)} MiB)\n`,
    );
    console.log(
      table(
        ['table', 'rows', 'total MiB', 'indexes MiB'],
        sizes.rows.map((r) => [r.rel, String(r.rows), mib(Number(r.total)), mib(Number(r.indexes))]),
      ),
    );

    console.log(
      `\nClaim/dispatch: workers (concurrency ${WORKER_CONCURRENCY} each, own pool of ${WORKER_POOL}, one process) ` +
        `draining ${DRAIN} calls of a queued ${ROWS}-row batch; the runner dials nothing (dialing, then ended failed). ` +
        'Another account places one call halfway: how long until a worker launched it, and how many batch calls went first.\n',
    );
    console.log(
      table(
        [
          'case',
          'queued',
          'ended',
          'wall s',
          'claimed/s',
          'ended/s',
          'claim→dialing p50 ms',
          'p95 ms',
          'CPU s',
          'loop busy',
          'single waited ms',
          'launched ahead',
        ],
        drains.map((r) => [
          r.name,
          String(r.depth),
          String(r.calls),
          r.wallS.toFixed(2),
          Math.round(r.claimedPerS),
          Math.round(r.endedPerS),
          Math.round(r.dialP50),
          Math.round(r.dialP95),
          r.cpuS.toFixed(2),
          `${Math.round(r.loopBusy * 100)}%`,
          Math.round(r.fairWaitMs),
          String(r.fairAhead),
        ]),
      ),
    );
    console.log('\nDatabase load of each run, workers started to stopped (pg_stat_database deltas)\n');
    console.log(
      table(
        ['case', 'ended', 'commits', 'rollbacks', 'tup ins', 'tup upd', 'tup del', 'blks read', 'blks hit'],
        drains.map((r) => [
          r.name,
          String(r.callsAtStop),
          r.db.xact_commit,
          r.db.xact_rollback,
          r.db.tup_inserted,
          r.db.tup_updated,
          r.db.tup_deleted,
          r.db.blks_read,
          r.db.blks_hit,
        ]),
      ),
    );
    console.log('\nPer call ended\n');
    console.log(perItemTable(drains.map((r) => ({ ...r, items: r.callsAtStop }))));
    if (cancels.length) {
      console.log('\nPOST /v1/agent/batches/{id}/cancel of the rest (queued calls end failed/canceled)\n');
      console.log(
        table(
          ['case', 'calls', 'wall s', 'calls/s', 'CPU s', 'commits', 'tup upd', 'tup ins', 'blks hit'],
          cancels.map((c) => [
            c.name,
            String(c.items),
            c.wallS.toFixed(2),
            Math.round(c.items / c.wallS),
            c.cpuS.toFixed(2),
            c.db.xact_commit,
            c.db.tup_updated,
            c.db.tup_inserted,
            c.db.blks_hit,
          ]),
        ),
      );
    }
    console.log(`\ntotal bench time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await api.close();
    await pool.end();
    await t.close();
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
