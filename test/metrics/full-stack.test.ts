import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTerminal } from '../../src/calls/status.js';
import { createLogger } from '../../src/logger.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { LATENCY_STAGES, latencyStagesOf } from '../../src/metrics/metrics.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type Receiver, startReceiver } from '../webhooks/receiver.js';
import { scrape } from './scrape.js';
import { duplicateKeys } from './strict-json.js';

// The whole stack of `agentline serve` (startAgentline, role all) with the simulated PBX: calls whose
// outcomes are known, then /metrics (and the METRICS_PORT listener) read by a real exposition parser
// and checked against what the API says about the same calls; and every log line the run wrote.

const LISTENER = '+14155550193';
const CANCELED = '+14155550194';
const BUSY = '+14155550102';
const listener = (number: string) => ({
  number,
  description: 'Greets, then only listens and never hangs up.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: { start: { say: 'Hello, thank you for calling the corner shop. How can I help you today?' } },
});
const scenarios = [
  listener(LISTENER),
  listener(CANCELED),
  { number: BUSY, description: 'The line is busy.', outcome: 'busy', ringSeconds: 0 },
];

/**
 * An OpenAI-compatible dialogue server that always ends the call politely (streamed like llama-server),
 * so the agent answers the callee's greeting at once and every run stores a turn with voice latency.
 */
async function startScriptedLlm(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as { response_format: { json_schema: { name: string } } };
      const answer =
        body.response_format.json_schema.name === 'agent_action'
          ? { action: 'end', outcome: 'objective_met', say: 'Thank you, that is all I needed. Goodbye.' }
          : { summary: 'The shop answered; the agent said goodbye.' };
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const content = JSON.stringify(answer);
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let dir: string;
let llm: Awaited<ReturnType<typeof startScriptedLlm>>;
let tdb: TestDatabase | null = null;
let app: Agentline;
let receiver: Receiver;
let key: string;
const lines: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-metrics-'));
  const modelsDir = path.join(dir, 'models');
  const scenariosDir = path.join(dir, 'scenarios');
  await fs.mkdir(modelsDir);
  await fs.mkdir(scenariosDir);
  for (const s of scenarios)
    await fs.writeFile(path.join(scenariosDir, `${s.number}.json`), JSON.stringify(s));
  llm = await startScriptedLlm();
  receiver = await startReceiver();
  if (process.env.DATABASE_URL) tdb = await createTestDatabase();
  app = await startAgentline({
    role: 'all',
    env: {
      ...TEST_CALL_WINDOW,
      // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
      WORKER_CONCURRENCY: '4',
      MODELS_DIR: modelsDir,
      MODELS_AUTO_FETCH: 'false',
      DIALOGUE_ENGINE: 'openai',
      LLM_URL: llm.url,
      SCENARIOS_DIR: scenariosDir,
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: '0',
      DATA_DIR: path.join(dir, 'data'),
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
    },
    // The production logger (redaction, serializers), at debug so every line a call can write is seen.
    logger: createLogger('debug', { write: (s: string) => void lines.push(s) }),
  });
  key = (
    JSON.parse(await fs.readFile(path.join(dir, 'data', 'first-api-key.json'), 'utf8')) as { key: string }
  ).key;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await llm?.close();
  await tdb?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}, 60_000);

const headers = () => ({ Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' });

async function place(to: string): Promise<string> {
  const res = await fetch(`${app.url}/v1/agent/calls`, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify({
      to,
      objective: 'Ask whether the shop is open today.',
      // Room for a loaded machine to hear the greeting: the scripted model ends the call at its first reply.
      maxDurationSeconds: 90,
      webhookUrl: receiver.url,
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { callId: string }).callId;
}

type CallView = {
  id: string;
  status: string;
  endedReason: string | null;
  turns: { speaker: string; interrupted: boolean; latency: Parameters<typeof latencyStagesOf>[0] }[];
};

async function getCall(id: string): Promise<CallView> {
  const res = await fetch(`${app.url}/v1/agent/calls/${id}`, { headers: headers() });
  expect(res.status).toBe(200);
  return (await res.json()) as CallView;
}

describe('metrics and logs of a full stack with the simulated PBX', () => {
  let finished: CallView[] = [];

  it('places an answered, a busy and a canceled call and lets them end, with their webhooks delivered', async () => {
    const ids = [await place(LISTENER), await place(BUSY), await place(CANCELED)];
    // The third is canceled once answered (or, if it ended first, left as it ended): the cancel's paths log too.
    await vi.waitFor(
      async () => {
        const c = await getCall(ids[2]);
        if (c.status === 'queued' || c.status === 'dialing') throw new Error(`still ${c.status}`);
      },
      { timeout: 60_000, interval: 100 },
    );
    const cancel = await fetch(`${app.url}/v1/agent/calls/${ids[2]}/cancel`, {
      method: 'POST',
      headers: headers(),
    });
    expect([200, 409]).toContain(cancel.status);
    await vi.waitFor(
      async () => {
        finished = await Promise.all(ids.map(getCall));
        const live = finished.filter((c) => !isTerminal(c.status));
        if (live.length > 0) throw new Error(`still live: ${live.map((c) => c.status).join(', ')}`);
      },
      { timeout: 150_000, interval: 250 },
    );
    // call.in_progress for each answered call, one terminal event for each call.
    const expected = finished.length + finished.filter((c) => c.status !== 'declined').length;
    await vi.waitFor(
      () => {
        if (receiver.received.length < expected)
          throw new Error(`${receiver.received.length} webhooks so far`);
      },
      { timeout: 30_000, interval: 100 },
    );
    // The receiver answers before the deliverer records the delivery and counts the attempt.
    await vi.waitFor(
      async () => {
        const s = await scrape(app.url!);
        const counted = s.value('agentline_webhook_attempts_total', { result: 'delivered' });
        const pending = s.value('agentline_webhook_deliveries', { status: 'pending' });
        if (counted !== receiver.received.length || pending !== 0)
          throw new Error(
            `${counted} attempts counted, ${pending} pending, ${receiver.received.length} received`,
          );
      },
      { timeout: 30_000, interval: 100 },
    );
  }, 200_000);

  it('counts the calls by status and ended reason, the turns with latency and the webhooks, as the API tells them', async () => {
    const s = await scrape(app.url!);
    const byOutcome = new Map<string, number>();
    for (const c of finished) {
      const k = `${c.status}/${c.endedReason ?? ''}`;
      byOutcome.set(k, (byOutcome.get(k) ?? 0) + 1);
    }
    for (const [k, n] of byOutcome) {
      const [status, ended_reason] = k.split('/');
      expect(s.value('agentline_calls', { status, ended_reason }), k).toBe(n);
    }
    const exported = s.family('agentline_calls').metrics.reduce((a, m) => a + Number(m.value), 0);
    expect(exported).toBe(finished.length);
    expect(s.value('agentline_calls_live')).toBe(0);
    expect(s.value('agentline_queue_depth')).toBe(0);

    // Each latency histogram counted exactly the stored turns that have that stage.
    const turns = finished.flatMap((c) => c.turns);
    for (const stage of Object.keys(LATENCY_STAGES)) {
      const expected = turns.filter((t) => latencyStagesOf(t.latency).includes(stage as never)).length;
      expect(s.count(`agentline_voice_${stage}_seconds`), stage).toBe(expected);
    }
    expect(
      turns.filter((t) => latencyStagesOf(t.latency).length > 0),
      JSON.stringify(turns),
    ).not.toEqual([]);
    expect(s.value('agentline_turns_total', { speaker: 'agent' })).toBe(
      turns.filter((t) => t.speaker === 'agent').length,
    );
    expect(s.value('agentline_barge_ins_total')).toBe(
      turns.filter((t) => t.speaker === 'agent' && t.interrupted).length,
    );

    expect(s.value('agentline_webhook_attempts_total', { result: 'delivered' })).toBe(
      receiver.received.length,
    );
    expect(s.value('agentline_webhook_deliveries', { status: 'delivered' })).toBe(receiver.received.length);
    expect(s.value('agentline_webhook_deliveries', { status: 'pending' })).toBe(0);

    expect(s.value('agentline_pbx_connected')).toBe(1);
    expect(s.value('agentline_worker_active_calls')).toBe(0);
    expect(s.family('agentline_worker_heartbeat_age_seconds').metrics).toHaveLength(1);
    expect(s.value('agentline_engine_info', { kind: 'tts', engine: 'flite' })).toBe(1);
    expect(s.value('agentline_engine_info', { kind: 'stt', engine: 'pocketsphinx' })).toBe(1);
    // The agent spoke and heard: each engine's real-time factor was measured at least once.
    expect(s.count('agentline_tts_real_time_factor')).toBeGreaterThan(0);
    expect(s.count('agentline_stt_real_time_factor')).toBeGreaterThan(0);
    expect(s.value('agentline_engine_info', { kind: 'dialogue', engine: 'openai-compatible' })).toBe(1);
    expect(s.count('agentline_dialogue_reply_seconds')).toBeGreaterThan(0);
    expect(s.value('agentline_database_up')).toBe(1);
    // prom-client's process metrics come with them.
    expect([...s.families.keys()]).toEqual(
      expect.arrayContaining(['process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']),
    );
  });

  it('serves the same registry on the METRICS_PORT listener, and nothing else there', async () => {
    expect(app.metricsUrl).not.toBeNull();
    const s = await scrape(app.metricsUrl!);
    expect(s.value('agentline_pbx_connected')).toBe(1);
    const other = await fetch(`${app.metricsUrl}/v1/agent/calls`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('shows in the Grafana dashboard and the alert rules only metric names a scrape carries', async () => {
    const s = await scrape(app.url!);
    const names = s.sampleNames();
    const dashboard = JSON.parse(
      await fs.readFile(path.resolve('deploy/grafana/agentline-dashboard.json'), 'utf8'),
    ) as {
      uid: string;
      panels: {
        id: number;
        type: string;
        title: string;
        gridPos: { x: number; y: number; w: number; h: number };
        targets?: { expr: string; refId: string }[];
      }[];
    };
    // Grafana's own rules: unique panel ids, a 24-column grid without overlaps, a refId per query.
    expect(dashboard.uid).toBe('agentline');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      if (p.type !== 'row')
        expect(new Set(p.targets?.map((t) => t.refId)).size, p.title).toBe(p.targets?.length);
    }
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(10);
    // The alert rules too.
    const alerts = await fs.readFile(path.resolve('deploy/prometheus/alerts.yml'), 'utf8');
    for (const m of alerts.matchAll(/^\s+expr: (.+)$/gm)) exprs.push({ title: 'alerts.yml', expr: m[1] });
    const used = new Set<string>();
    for (const { title, expr } of exprs) {
      for (const m of expr.matchAll(/\b((?:agentline|process|nodejs)_[a-z0-9_]+)/g)) {
        used.add(m[1]);
        expect(names.has(m[1]), `${title}: ${m[1]}`).toBe(true);
      }
    }
    // Every agentline family is on the dashboard.
    for (const family of s.families.keys()) {
      if (!family.startsWith('agentline_')) continue;
      const onDashboard = [...used].some((u) => u === family || u.startsWith(`${family}_`));
      expect(onDashboard, family).toBe(true);
    }
  });

  it('writes log lines without a key twice, and every line about a call carries its callId', () => {
    const repeated = lines.filter((l) => duplicateKeys(l.trim()).length > 0);
    expect(repeated).toEqual([]);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ids = finished.map((c) => c.id);
    // A line that names a call anywhere (a field, a message, a URL) is about that call.
    const about = parsed.filter((l) => ids.some((id) => JSON.stringify(l).includes(id)));
    expect(about.length).toBeGreaterThan(0);
    expect(about.filter((l) => typeof l.callId !== 'string')).toEqual([]);
    // And the call's own components (its controller, agent, media, summary) always say which call.
    const perCall = parsed.filter((l) => typeof l.part === 'string' && /^(agent|calls|media)\b/.test(l.part));
    expect(perCall.filter((l) => typeof l.callId !== 'string')).toEqual([]);
  });
});
