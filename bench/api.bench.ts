/**
 * Throughput of the REST API on loopback: accepted POST /v1/agent/calls and GET /v1/agent/calls/{id}
 * per second against real Postgres (DATABASE_URL; else in-memory PGlite, with a warning), beside a bare
 * Hono route on @hono/node-server in the same process, so the ratio is this API's own overhead.
 * Run: npm run bench:api   (BENCH_SECONDS, BENCH_CONNECTIONS tune it; ~10 s a case by default)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OpenAPIHono } from '@hono/zod-openapi';
import autocannon from 'autocannon';
import { AccountService } from '../src/accounts/account-service.js';
import { SecretBox } from '../src/accounts/secret-box.js';
import { createApp } from '../src/api/app.js';
import { startHttpServer } from '../src/api/http-server.js';
import { CallStore } from '../src/calls/call-store.js';
import { loadIrsfList } from '../src/calls/guardrails.js';
import { loadConfig } from '../src/config.js';
import { Readiness } from '../src/health.js';
import { silentLogger } from '../src/logger.js';
import { createTestDatabase } from '../test/helpers/test-db.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
}

async function run(
  name: string,
  opts: { url: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
): Promise<Row> {
  const r = await autocannon({
    url: opts.url,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    body: opts.body,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r['2xx'],
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

async function main() {
  if (!process.env.DATABASE_URL) {
    console.warn(
      'WARNING: DATABASE_URL is unset; using in-memory PGlite, which is far slower than Postgres.',
    );
  }
  const db = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-bench-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    CAP_CALLS_PER_MINUTE: '1000000',
    CAP_CONCURRENT_CALLS: '100000',
    CAP_CALLS_PER_DAY: '10000000',
  });
  const accounts = new AccountService(db.db, SecretBox.fromKey(crypto.randomBytes(32).toString('hex')));
  const { accountId } = await accounts.createAccount('bench');
  const { key } = await accounts.createApiKey(accountId);
  await accounts.addNumber(accountId, '+14155550100', true);
  const app = createApp({
    db: db.db,
    config,
    logger: silentLogger(),
    accounts,
    calls: new CallStore(db.db, config.publicBaseUrl),
    readiness: new Readiness(),
    guardrails: { allowedCountries: config.ALLOWED_COUNTRIES, irsf: loadIrsfList() },
  });
  const api = await startHttpServer(app, { port: 0, host: '127.0.0.1' });

  const bare = new OpenAPIHono();
  bare.get('/ping', (c) => c.json({ ok: true }));
  bare.post('/echo', async (c) => c.json(await c.req.json(), 201));
  const bareServer = await startHttpServer(bare, { port: 0, host: '127.0.0.1' });

  const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const body = JSON.stringify({
    to: '+14155552671',
    objective: 'Ask whether the shop is open on Sunday and note the hours.',
    fields: [{ name: 'open_sunday', type: 'boolean' }, { name: 'hours' }],
    metadata: { ticket: 'T-1' },
  });
  const first = await fetch(`${api.url}/v1/agent/calls`, { method: 'POST', headers: auth, body });
  const { callId } = (await first.json()) as { callId: string };

  try {
    console.log(`db=${db.kind} connections=${CONNECTIONS} seconds=${SECONDS} cpus=${os.cpus().length}`);
    const bareGet = await run('bare Hono GET /ping', { url: `${bareServer.url}/ping` });
    const bareEcho = await run('bare Hono POST /echo (JSON)', {
      url: `${bareServer.url}/echo`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const get = await run('GET /v1/agent/calls/{id}', {
      url: `${api.url}/v1/agent/calls/${callId}`,
      headers: auth,
    });
    const post = await run('POST /v1/agent/calls', {
      url: `${api.url}/v1/agent/calls`,
      method: 'POST',
      headers: auth,
      body,
    });
    const table = [
      { ...bareGet, vs: '1.00' },
      { ...bareEcho, vs: '1.00' },
      { ...get, vs: (bareGet.rps / get.rps).toFixed(2) },
      { ...post, vs: (bareEcho.rps / post.rps).toFixed(2) },
    ];
    console.log('\n| case | req/s | p50 ms | p99 ms | 2xx | errors/non-2xx | bare/ours |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of table) {
      console.log(
        `| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.ok} | ${r.bad} | ${r.vs} |`,
      );
    }
  } finally {
    await api.close();
    await bareServer.close();
    await db.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
