import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { CallStore } from '../../../src/calls/call-store.js';
import { isTerminal } from '../../../src/calls/status.js';
import { type CallWorker, createCallWorker } from '../../../src/calls/worker.js';
import { type Config, loadConfig } from '../../../src/config.js';
import { accounts, type CallRow, calls, webhookDeliveries } from '../../../src/db/schema.js';
import { createLogger, type Logger, silentLogger } from '../../../src/logger.js';
import {
  BUNDLED_SCENARIOS_DIR,
  type ChaosOptions,
  chaosFromEnv,
  type SimulatedPbx,
  startSimulatedPbx,
} from '../../../src/pbx-sim/index.js';
import { loadScenarioDir, type Scenario } from '../../../src/pbx-sim/scenario.js';
import type { CallControllerSettings } from '../../../src/telephony/ari/call-controller.js';
import { type AriClient, createAriClient } from '../../../src/telephony/ari/client.js';
import { createConfiguredMediaTransport } from '../../../src/telephony/ari/media-transport.js';
import { type AriCallRunner, createAriCallRunner } from '../../../src/telephony/ari-call-runner.js';
import type { ConversationAgent } from '../../../src/telephony/call-session.js';
import { createPortPool, type PortPool } from '../../../src/telephony/media/port-pool.js';
import { createPocketsphinxStt } from '../../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../../src/voice/types.js';
import { TEST_CALL_WINDOW } from '../../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.js';

export const CALLER_ID = '+14155550000';
export const NUMBERS = {
  restaurant: '+14155550100',
  noAnswer: '+14155550101',
  busy: '+14155550102',
  rejects: '+14155550103',
  voicemail: '+14155550104',
  hangsUp: '+14155550105',
  unallocated: '+14155550106',
  ivr: '+14155550107',
} as const;

/** Engines are loaded once per test file and shared by the PBX's callees and the test agents. */
export interface Engines {
  tts: TextToSpeech;
  stt: SpeechToText;
  close(): Promise<void>;
}

export async function loadEngines(): Promise<Engines> {
  const tts = await createFliteTts();
  const stt = await createPocketsphinxStt();
  return {
    tts,
    stt,
    close: async () => {
      await tts.close();
      await stt.close();
    },
  };
}

export interface Harness {
  sim: SimulatedPbx;
  ari: AriClient;
  runner: AriCallRunner;
  worker: CallWorker;
  db: TestDatabase;
  store: CallStore;
  config: Config;
  /** Swaps the agent the next calls talk to. */
  setAgent(agent: ConversationAgent): void;
  /** Queues a call (webhookUrl set, so every transition writes an outbox row) and wakes the worker. */
  place(to: string, fields?: Partial<typeof calls.$inferInsert>): Promise<string>;
  get(callId: string): Promise<CallRow>;
  /** Waits until the call reaches `status` (or any terminal status when omitted). */
  waitFor(callId: string, status?: string, timeoutMs?: number): Promise<CallRow>;
  /** Cancels the way the API does: the store ends the call, the worker's cancel watch aborts the runner. */
  cancel(callId: string): Promise<void>;
  webhookEvents(callId: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startHarness(opts: {
  engines: Engines;
  agent: ConversationAgent;
  env?: Record<string, string>;
  settings?: Partial<CallControllerSettings>;
  /** Client reconnect delay, to hold the events socket down for a while in the drop tests. */
  reconnectInitialMs?: number;
  /** Callees of the test's own, beside the bundled ones. */
  scenarios?: Scenario[];
  /** How long the ARI client waits for a REST answer (default the client's). */
  ariRequestTimeoutMs?: number;
  /** The logger of everything the harness starts (PBX, client, worker), e.g. to assert log lines. */
  logger?: Logger;
  /** The Asterisk version the simulated PBX reports (default the simulator's). */
  asteriskVersion?: string;
  /**
   * Without MEDIA_TRANSPORT, choose the media as production does with a real Asterisk (by its
   * version); otherwise the tests' default, RTP.
   */
  productionMediaDefault?: boolean;
  /**
   * Runs the simulated PBX in chaos mode (src/pbx-sim/chaos.ts). Default: from PBX_SIM_CHAOS_SEED
   * (and _MAX_DELAY_MS, _ERROR_RATE), so any telephony test file can be run in chaos; null: never.
   */
  chaos?: ChaosOptions | null;
}): Promise<Harness> {
  // TELEPHONY_TEST_LOG=debug shows the controller's and the PBX's logs when a test needs explaining.
  const level = process.env.TELEPHONY_TEST_LOG;
  const logger = opts.logger ?? (level ? createLogger(level) : silentLogger());
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-tel-'));
  const chaos = opts.chaos === undefined ? chaosFromEnv() : (opts.chaos ?? undefined);
  const sim = await startSimulatedPbx({
    chaos,
    username: 'asterisk',
    password: 'secret',
    scenarios: opts.scenarios
      ? [...(await loadScenarioDir(BUNDLED_SCENARIOS_DIR)), ...opts.scenarios]
      : BUNDLED_SCENARIOS_DIR,
    tts: opts.engines.tts,
    stt: opts.engines.stt,
    logger,
    asteriskVersion: opts.asteriskVersion,
  });
  const base = 20000 + crypto.randomInt(0, 40) * 1000;
  const config = loadConfig({
    ...TEST_CALL_WINDOW,
    DATA_DIR: dataDir,
    ARI_URL: sim.ariUrl,
    ARI_USERNAME: 'asterisk',
    ARI_PASSWORD: 'secret',
    ARI_APP: 'agentline-test',
    RING_TIMEOUT_SECONDS: '5',
    RTP_PORT_MIN: String(base),
    RTP_PORT_MAX: String(base + 998),
    ...opts.env,
  });
  const ari = createAriClient({
    url: sim.ariUrl,
    username: 'asterisk',
    password: 'secret',
    app: config.ARI_APP,
    logger,
    reconnectInitialMs: opts.reconnectInitialMs,
    requestTimeoutMs: opts.ariRequestTimeoutMs,
  });
  await ari.connect();
  const portPool: PortPool = createPortPool({
    min: config.RTP_PORT_MIN,
    max: config.RTP_PORT_MAX,
    host: '127.0.0.1',
  });
  const media = createConfiguredMediaTransport({
    transport: config.MEDIA_TRANSPORT ?? (opts.productionMediaDefault ? undefined : 'rtp'),
    simulated: false,
    format: config.MEDIA_FORMAT,
    mediaHost: config.MEDIA_HOST,
    portPool,
    ari,
    logger,
  });
  let agent = opts.agent;
  const agentProxy: ConversationAgent = {
    converse: (s, onTurn) => agent.converse(s, onTurn),
    summarize: (c, t, o) => agent.summarize(c, t, o),
  };
  const db = await createTestDatabase();
  const runner = createAriCallRunner({
    ari,
    config,
    logger,
    agent: agentProxy,
    tts: opts.engines.tts,
    media,
    settings: opts.settings,
    db: db.db,
  });
  const store = new CallStore(db.db, config.publicBaseUrl);
  const worker = createCallWorker({
    db: db.db,
    store,
    runner,
    logger,
    concurrency: 4,
    pollMs: 100,
    staleSeconds: 30,
    canClaim: () => ari.connected && runner.claimable(),
    cancelPollMs: 100,
  });
  await worker.start();
  const [account] = await db.db.insert(accounts).values({ name: 'telephony tests' }).returning();

  const get = async (callId: string) => {
    const row = await store.get(callId);
    if (!row) throw new Error(`no call ${callId}`);
    return row;
  };

  return {
    sim,
    ari,
    runner,
    worker,
    db,
    store,
    config,
    setAgent(a) {
      agent = a;
    },
    async place(to, fields = {}) {
      const [row] = await db.db
        .insert(calls)
        .values({
          accountId: account.id,
          toNumber: to,
          callerId: CALLER_ID,
          objective: 'Book a table for two at seven',
          language: 'en-US',
          webhookUrl: 'https://hooks.example.com/agentline',
          fields: [{ name: 'confirmed', type: 'boolean' }],
          ...fields,
        })
        .returning();
      worker.wake();
      return row.id;
    },
    get,
    waitFor(callId, status, timeoutMs = 60_000) {
      return until(
        // A chaos run is repeated from its seed: a timeout names it.
        `call ${callId} to reach ${status ?? 'a terminal status'}${sim.chaos ? ` (pbx-sim chaos seed ${sim.chaos.seed})` : ''}`,
        async () => {
          const row = await get(callId);
          return (status ? row.status === status : isTerminal(row.status)) ? row : null;
        },
        timeoutMs,
      );
    },
    async cancel(callId) {
      await store.transition(callId, 'failed', { reason: 'canceled' });
    },
    async webhookEvents(callId) {
      const rows = await db.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, callId));
      return rows.map((r) => r.event).sort();
    },
    async close() {
      await worker.stop({ drainMs: 0 });
      await runner.stop();
      media.close?.();
      await ari.close();
      await portPool.close();
      await sim.stop();
      await db.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The PCM of a RIFF/WAVE file (16-bit mono), as the PBX stored the mixed recording. */
export function readWav(buf: Buffer): { sampleRate: number; samples: Int16Array } {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a WAV file');
  }
  let off = 12;
  let sampleRate = 0;
  let bits = 0;
  let channels = 0;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16 || channels !== 1)
        throw new Error(`unexpected WAV format: ${bits} bit, ${channels} channels`);
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + i * 2);
      return { sampleRate, samples };
    }
    off = body + size + (size % 2);
  }
  throw new Error('WAV file has no data chunk');
}

export /** Live handles of the kinds a call opens (sockets, servers, timers), by kind. */
function handleCounts(): Record<string, number> {
  const kinds = ['TCPSocketWrap', 'TCPServerWrap', 'UDPWrap', 'Timeout', 'Immediate'];
  const out: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) if (kinds.includes(k)) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/**
 * Every socket, server and timer the PBX, the client, the media and the worker opened is gone
 * (vitest's own hook timer may have been running when `before` was taken, so fewer is fine).
 */
export async function expectNoLeakedHandles(before: Record<string, number>): Promise<void> {
  const leaked = () => Object.entries(handleCounts()).filter(([k, n]) => n > (before[k] ?? 0));
  await until('handles to be released', () => leaked().length === 0, 5000).catch(() =>
    expect(leaked()).toEqual([]),
  );
}
