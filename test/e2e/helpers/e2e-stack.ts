import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AccountService } from '../../../src/accounts/account-service.js';
import { SecretBox } from '../../../src/accounts/secret-box.js';
import { createApp } from '../../../src/api/app.js';
import { type RunningServer, startHttpServer } from '../../../src/api/http-server.js';
import { CallStore } from '../../../src/calls/call-store.js';
import { loadIrsfList } from '../../../src/calls/guardrails.js';
import { isTerminal } from '../../../src/calls/status.js';
import { type CallWorker, createCallWorker } from '../../../src/calls/worker.js';
import { type Config, loadConfig } from '../../../src/config.js';
import { Readiness } from '../../../src/health.js';
import { createLogger, type Logger, silentLogger } from '../../../src/logger.js';
import {
  BUNDLED_SCENARIOS_DIR,
  loadScenarioDir,
  type Scenario,
  type SimulatedPbx,
  startSimulatedPbx,
} from '../../../src/pbx-sim/index.js';
import type { CallControllerSettings } from '../../../src/telephony/ari/call-controller.js';
import { type AriClient, createAriClient } from '../../../src/telephony/ari/client.js';
import { createAriMediaTransport } from '../../../src/telephony/ari/media-transport.js';
import { type AriCallRunner, createAriCallRunner } from '../../../src/telephony/ari-call-runner.js';
import type { ConversationAgent } from '../../../src/telephony/call-session.js';
import { createPortPool, type PortPool } from '../../../src/telephony/media/port-pool.js';
import {
  type ConversationAgentOptions,
  createConversationAgent,
} from '../../../src/voice/agent/conversation-agent.js';
import type { DialogueEngine } from '../../../src/voice/dialogue/types.js';
import { createPocketsphinxStt } from '../../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../../src/voice/types.js';
import { createSileroVad } from '../../../src/voice/vad/silero.js';
import { createWebhookDeliverer, type WebhookDeliverer } from '../../../src/webhooks/deliverer.js';
import { TEST_CALL_WINDOW } from '../../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.js';
import { createKnownWordsStt } from './known-words-stt.js';
import { type MediaTap, tapMediaTransport } from './media-tap.js';

/** The caller ID of the e2e account. */
export const E2E_CALLER_ID = '+14155550199';

/** The real engines of one stack: the agent's (flite voice, pocketsphinx ears) and the simulated callees'. */
export interface VoiceEngines {
  agentTts: TextToSpeech;
  agentStt: SpeechToText;
  calleeTts: TextToSpeech;
  calleeStt: SpeechToText;
  close(): Promise<void>;
}

/**
 * The engines of a stack. With `knownWords` both sides hear with a recogniser that knows the other
 * side's lines (known-words-stt.ts): the audio crosses the whole media path, and what the conversation
 * does no longer hangs on recognition luck. Without it, pocketsphinx on both sides.
 */
export async function loadVoiceEngines(opts: { knownWords?: boolean } = {}): Promise<VoiceEngines> {
  if (opts.knownWords) {
    const agentEars = createKnownWordsStt();
    const calleeEars = createKnownWordsStt();
    const agentTts = calleeEars.teach(await createFliteTts());
    const calleeTts = agentEars.teach(await createFliteTts());
    return {
      agentTts,
      agentStt: agentEars,
      calleeTts,
      calleeStt: calleeEars,
      async close() {
        await Promise.allSettled([agentTts.close(), calleeTts.close()]);
      },
    };
  }
  const agentTts = await createFliteTts();
  const calleeTts = await createFliteTts();
  // Separate decoders, so the callee's transcription never queues behind the agent's listening.
  const agentStt = await createPocketsphinxStt();
  // The simulated callee transcribes each utterance whole, after it ended: decoding in its pauses (and
  // again from the start when speech resumes) would only cost CPU the agent needs on a busy CI box.
  const calleeStt = await createPocketsphinxStt({ pauseMs: 0, endAfterMs: 0 });
  return {
    agentTts,
    agentStt,
    calleeTts,
    calleeStt,
    async close() {
      await Promise.allSettled([agentTts.close(), agentStt.close(), calleeTts.close(), calleeStt.close()]);
    },
  };
}

export interface E2eStackOptions {
  engines: VoiceEngines;
  /** websocket: chan_websocket slin16 (16 kHz both ways); rtp: ulaw RTP (8 kHz, resampled for the engines). */
  transport: 'websocket' | 'rtp';
  /** Scenarios besides the bundled ones (a number they define replaces the bundled one). */
  scenarios?: Scenario[];
  /** Extra environment for loadConfig. */
  env?: Record<string, string>;
  settings?: Partial<
    Omit<CallControllerSettings, 'app' | 'dialString' | 'ringTimeoutSeconds' | 'recordingsDir'>
  >;
  /** Calls at once in the worker. */
  concurrency?: number;
  logger?: Logger;
}

/** What the agent of the next calls is made of: the dialogue engine is the only scripted part. */
export interface AgentSpec {
  /** A fresh engine per call, so per-call script state (rules that fire once) starts clean. */
  dialogue: () => DialogueEngine;
  options?: ConversationAgentOptions;
}

export interface CallJson {
  id: string;
  callId: string;
  status: string;
  to: string;
  summary: string | null;
  extracted: Record<string, unknown> | null;
  transcript: string | null;
  turns: {
    speaker: 'agent' | 'callee';
    text: string;
    startMs: number;
    endMs: number;
    interrupted: boolean;
    latency?: Record<string, number | null> | null;
  }[];
  recordingUrl: string | null;
  endedReason: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
}

export interface E2eStack {
  /** Base URL of the real API. */
  url: string;
  key: string;
  accountId: string;
  webhookSecret: string;
  config: Config;
  sim: SimulatedPbx;
  ari: AriClient;
  db: TestDatabase;
  media: MediaTap;
  runner: AriCallRunner;
  worker: CallWorker;
  /** The agent that talks on the calls placed from now on. */
  useAgent(spec: AgentSpec): void;
  /** fetch against the API with the account's key. */
  request(pathname: string, init?: RequestInit): Promise<Response>;
  /** POST /v1/agent/calls; throws with the API's error body on anything but 201. */
  placeCall(body: Record<string, unknown>): Promise<string>;
  getCall(callId: string): Promise<CallJson>;
  /** Polls GET /v1/agent/calls/{id} until the call is terminal. */
  waitForEnd(callId: string, timeoutMs?: number): Promise<CallJson>;
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, so PUBLIC_BASE_URL (used in webhook payloads) can name the API's port. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The bundled scenarios with `extra` replacing or adding numbers. */
async function scenarioSet(extra: Scenario[]): Promise<Scenario[]> {
  const bundled = (await loadScenarioDir(BUNDLED_SCENARIOS_DIR)) as Scenario[];
  const replaced = new Set(extra.map((s) => s.number));
  return [...bundled.filter((s) => !replaced.has(s.number)), ...extra];
}

/**
 * The whole product on loopback, composed the way `src/main.ts` composes it: the public API, the call
 * worker, the ARI call runner with the real media transport, the conversation agent with real VAD,
 * STT and TTS, the webhook deliverer, and the simulated PBX whose callees speak flite and hear
 * pocketsphinx, over a real test database. Only the dialogue engine is chosen by the test.
 */
export async function startE2eStack(opts: E2eStackOptions): Promise<E2eStack> {
  const logLevel = process.env.E2E_LOG;
  const logger = opts.logger ?? (logLevel ? createLogger(logLevel) : silentLogger());
  const stops: (() => Promise<unknown> | unknown)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch (err) {
        logger.error({ err }, 'e2e stack: stopping a part failed');
      }
    }
  };

  try {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-e2e-'));
    stops.push(() => fs.rm(dataDir, { recursive: true, force: true }));

    const sim = await startSimulatedPbx({
      host: '127.0.0.1',
      port: 0,
      username: 'asterisk',
      password: 'e2e-secret',
      scenarios: await scenarioSet(opts.scenarios ?? []),
      tts: opts.engines.calleeTts,
      stt: opts.engines.calleeStt,
      logger: logger.child({ part: 'pbx-sim' }),
    });
    stops.push(() => sim.stop());

    const db = await createTestDatabase();
    stops.push(() => db.close());

    const port = await freePort();
    const rtpBase = 20000 + crypto.randomInt(0, 40) * 1000;
    const config = loadConfig({
      ...TEST_CALL_WINDOW,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      ARI_URL: sim.ariUrl,
      ARI_USERNAME: 'asterisk',
      ARI_PASSWORD: 'e2e-secret',
      ARI_APP: 'agentline-e2e',
      MEDIA_TRANSPORT: opts.transport,
      MEDIA_FORMAT: opts.transport === 'rtp' ? 'ulaw' : 'slin16',
      RING_TIMEOUT_SECONDS: '10',
      RTP_PORT_MIN: String(rtpBase),
      RTP_PORT_MAX: String(rtpBase + 998),
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      CAP_CALLS_PER_MINUTE: '1000',
      CAP_CONCURRENT_CALLS: '100',
      ...opts.env,
    });

    const secrets = SecretBox.fromKey(crypto.randomBytes(32).toString('hex'));
    const accounts = new AccountService(db.db, secrets);
    const store = new CallStore(db.db, config.publicBaseUrl);

    const ari = createAriClient({
      url: config.ARI_URL!,
      username: config.ARI_USERNAME,
      password: config.ARI_PASSWORD,
      app: config.ARI_APP,
      logger: logger.child({ part: 'ari' }),
    });
    await ari.connect();
    stops.push(() => ari.close());

    const portPool: PortPool = createPortPool({
      min: config.RTP_PORT_MIN,
      max: config.RTP_PORT_MAX,
      host: config.MEDIA_HOST,
    });
    stops.push(() => portPool.close());
    const media = tapMediaTransport(
      createAriMediaTransport({
        transport: opts.transport,
        format: config.MEDIA_FORMAT,
        mediaHost: config.MEDIA_HOST,
        portPool,
        ari,
        logger: logger.child({ part: 'media' }),
      }),
    );

    const { agentTts, agentStt } = opts.engines;
    const sharedVad = await createSileroVad();
    stops.push(() => sharedVad.close());
    let spec: AgentSpec | null = null;
    // One conversation agent per call, built from the current spec, so each call gets its own dialogue.
    const agentLogger = logger.child({ part: 'agent' });
    const agents = new Map<string, ConversationAgent>();
    const agentFor = (callId: string): ConversationAgent => {
      let agent = agents.get(callId);
      if (!agent) {
        if (!spec) throw new Error('e2e stack: useAgent() was not called before placing a call');
        const dialogue = spec.dialogue();
        agent = createConversationAgent({
          stt: agentStt,
          tts: agentTts,
          // createVad gives each call its own detector, so calls can overlap.
          vad: sharedVad,
          createVad: () => createSileroVad(),
          dialogue,
          logger: agentLogger,
          options: spec.options,
        });
        agents.set(callId, agent);
      }
      return agent;
    };
    const agent: ConversationAgent = {
      converse: (session, onTurn) => agentFor(session.call.id).converse(session, onTurn),
      summarize: (call, turns) => agentFor(call.id).summarize(call, turns),
    };

    const runner = createAriCallRunner({
      ari,
      config,
      logger: logger.child({ part: 'calls' }),
      agent,
      tts: agentTts,
      media: media.transport,
      settings: opts.settings,
    });
    stops.push(() => runner.stop());

    let deliverer: WebhookDeliverer | null = null;
    const worker = createCallWorker({
      db: db.db,
      store,
      runner,
      logger: logger.child({ part: 'worker' }),
      concurrency: opts.concurrency ?? 4,
      pollMs: 100,
      staleSeconds: 30,
      cancelPollMs: 100,
      canClaim: () => ari.connected,
      onTransition: () => deliverer?.wake(),
    });
    await worker.start();
    stops.push(() => worker.stop({ drainMs: 0 }));

    deliverer = createWebhookDeliverer({
      db: db.db,
      secrets,
      logger: logger.child({ part: 'webhooks' }),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryHours: config.WEBHOOK_RETRY_HOURS,
      allowHttp: config.WEBHOOK_ALLOW_HTTP,
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      pollMs: 200,
    });
    deliverer.start();
    const d = deliverer;
    stops.push(() => d.stop());

    const readiness = new Readiness();
    readiness.add(runner.readiness);
    const app = createApp({
      db: db.db,
      config,
      logger: logger.child({ part: 'api' }),
      accounts,
      calls: store,
      readiness,
      guardrails: { allowedCountries: config.ALLOWED_COUNTRIES, irsf: loadIrsfList(config.IRSF_LIST_FILE) },
      voices: agentTts.voices,
      onCallQueued: () => worker.wake(),
    });
    const server: RunningServer = await startHttpServer(app, { port, host: '127.0.0.1' });
    stops.push(() => server.close());

    const { accountId } = await accounts.createAccount('e2e');
    await accounts.addNumber(accountId, E2E_CALLER_ID, true);
    const { key } = await accounts.createApiKey(accountId);
    const webhookSecret = await accounts.webhookSecret(accountId);
    if (!webhookSecret) throw new Error('e2e stack: the account has no webhook secret');

    const request = (pathname: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${key}`);
      if (init.body !== undefined && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
      return fetch(`${server.url}${pathname}`, { ...init, headers });
    };
    const getCall = async (callId: string): Promise<CallJson> => {
      const res = await request(`/v1/agent/calls/${callId}`);
      if (res.status !== 200) throw new Error(`GET call ${callId}: ${res.status} ${await res.text()}`);
      return (await res.json()) as CallJson;
    };

    return {
      url: server.url,
      key,
      accountId,
      webhookSecret,
      config,
      sim,
      ari,
      db,
      media,
      runner,
      worker,
      useAgent(s) {
        spec = s;
      },
      request,
      async placeCall(body) {
        const res = await request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(body) });
        const text = await res.text();
        if (res.status !== 201) throw new Error(`POST /v1/agent/calls: ${res.status} ${text}`);
        return (JSON.parse(text) as { callId: string }).callId;
      },
      getCall,
      async waitForEnd(callId, timeoutMs = 120_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const call = await getCall(callId);
          if (isTerminal(call.status)) return call;
          if (Date.now() > deadline) {
            throw new Error(
              `call ${callId} still ${call.status} after ${timeoutMs} ms:\n${call.transcript ?? ''}`,
            );
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      close: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
