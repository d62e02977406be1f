import fs from 'node:fs';
import path from 'node:path';
import { AccountService } from './accounts/account-service.js';
import { SecretBox } from './accounts/secret-box.js';
import { createApp } from './api/app.js';
import { startHttpServer } from './api/http-server.js';
import { createDialGate } from './calls/dial-gate.js';
import { watchEventLoopLag } from './calls/event-loop-lag.js';
import { loadIrsfList } from './calls/guardrails.js';
import { createTrunkPacer } from './calls/trunk-pacer.js';
import { createCallWorker, newWorkerId } from './calls/worker.js';
import { measureEngineProfile } from './capacity/engine-profile.js';
import { watchMachineLoad } from './capacity/machine-load.js';
import { createWorkerCapacity } from './capacity/worker-capacity.js';
import { type Config, loadConfig } from './config.js';
import { createUser, signInLinkUrl } from './dashboard/auth/users.js';
import { createListenEndpoint, sessionUserResolver } from './dashboard/routes/listen.js';
import { type Database, openDatabase } from './db/client.js';
import { acquireEmbeddedLock } from './db/embedded-lock.js';
import { accounts } from './db/schema.js';
import { DeploymentDncList } from './dnc/deployment-list.js';
import { createLiveBus } from './events/live-bus.js';
import { Readiness } from './health.js';
import { ListenHub } from './listen/listen-hub.js';
import { withListenTap } from './listen/listen-tap.js';
import { createLogger, type Logger } from './logger.js';
import { createMcpHttpHandler } from './mcp/mcp-http.js';
import { registerDatabaseGauges } from './metrics/database-gauges.js';
import { createMetrics } from './metrics/metrics.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { ObservedCallStore } from './metrics/observed-call-store.js';
import { timedDialogue, timedStt, timedTts } from './metrics/timed-engines.js';
import { startSimulatedPbx } from './pbx-sim/index.js';
import { makePrivateDir, restrictTree, restrictUmask } from './private-files.js';
import { createStopSteps, type StopSteps } from './stop-steps.js';
import { createConfiguredMediaTransport } from './telephony/ari/media-transport.js';
import { connectAri, createAriCallRunner } from './telephony/ari-call-runner.js';
import { createPortPool } from './telephony/media/port-pool.js';
import { createRecordingSweeper } from './telephony/recordings.js';
import { createConversationAgent } from './voice/agent/conversation-agent.js';
import { selectEngines } from './voice/engines.js';
import { fetchMissingModels } from './voice/models/auto-fetch.js';
import { createPocketsphinxStt } from './voice/stt/pocketsphinx.js';
import { createFliteTts } from './voice/tts/flite.js';
import { createWebhookDeliverer, exponentialBackoff, webhookRetrySchedule } from './webhooks/deliverer.js';

export type Role = 'all' | 'api' | 'worker';

/** WORKER_CONCURRENCY=auto never claims beyond this many calls per worker, whatever was measured. */
const AUTO_CONCURRENCY_MAX = 64;

export interface StartOptions {
  role: Role;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface Agentline {
  config: Config;
  /** The API's base URL, when this process serves it. */
  url: string | null;
  /** The simulated PBX's URL, when this process runs one. */
  pbxUrl: string | null;
  /** The METRICS_PORT listener's base URL (it serves only /metrics), when configured. */
  metricsUrl: string | null;
  stop(): Promise<void>;
}

/**
 * The composition root: builds every part from the environment and owns their shutdown, in reverse order.
 * `all` (the default) runs the API, a call worker, the webhook deliverer and, without ARI_URL, the simulated PBX.
 */
export async function startAgentline(opts: StartOptions): Promise<Agentline> {
  const config = loadConfig(opts.env ?? process.env);
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL, undefined, config.LOG_FORMAT);
  const stops = createStopSteps(logger);
  const stop = () => stops.run();
  const runsApi = opts.role !== 'worker';
  const runsWorker = opts.role !== 'api';

  try {
    // Recordings, the embedded database and the keys under DATA_DIR are private: 0600 files, 0700 folders.
    restrictUmask();
    makePrivateDir(config.dataDir);
    const database = await openConfiguredDatabase(config, logger, stops);
    restrictDataDirs(config, logger);
    const { db } = database;
    // DNC_LIST_FILE: refused at placement and checked again right before each dial; one copy, re-read on change.
    const dncList = config.DNC_LIST_FILE
      ? await DeploymentDncList.open(config.DNC_LIST_FILE, { logger: logger.child({ part: 'dnc' }) })
      : null;
    if (dncList) stops.add('do-not-call list', () => dncList.close());
    const secrets = SecretBox.load({ secretKey: config.SECRET_KEY, dataDir: config.dataDir });
    const accountService = new AccountService(db, secrets);
    // This process's own registry: several servers in one process (tests) never share counters.
    const metrics = createMetrics();
    // openDatabase's pool holds at most 10 connections (src/db/client.ts); PGlite is one in-process connection.
    registerDatabaseGauges(metrics.registry, db, {
      poolMaxConnections: database.kind === 'postgres' ? 10 : 1,
      poolStats: database.poolStats,
    });
    const store = new ObservedCallStore(db, config.publicBaseUrl, metrics);
    // One bus per process: the worker's stored writes and the callee's partials wake the live event streams.
    const bus = await createLiveBus(database, logger.child({ part: 'events' }));
    stops.add('live event bus', () => bus.close());
    store.onWrite = (w) => bus.publish({ kind: 'changed', ...w });
    // /readyz checks the database itself (src/api/routes/health.ts); a second check here listed it twice.
    const readiness = new Readiness();

    let pbxUrl: string | null = null;
    let wakeWorker: (() => void) | null = null;
    let listenHub: ListenHub | null = null;
    if (runsWorker) {
      if (config.MODELS_AUTO_FETCH)
        await fetchMissingModels(config.modelsDir, logger.child({ part: 'models' }));
      const engines = await selectEngines(config, logger);
      stops.add('voice engines', () => engines.close());
      // WORKER_CONCURRENCY=auto: the engines' speed on this machine, measured in the background (the
      // worker carries one call until it is known), sizes how many calls the worker takes. A fixed
      // number needs no measurement, and a start spends no CPU on one.
      const autoCapacity = config.WORKER_CONCURRENCY === 'auto';
      const measuring = new AbortController();
      const profile = autoCapacity
        ? measureEngineProfile(engines, { signal: measuring.signal }).catch((err: Error) => {
            if (!measuring.signal.aborted) logger.warn({ err }, 'measuring the voice engines failed');
            return null;
          })
        : null;
      // Before the engines close (stops run in reverse): a measurement must not outlive them.
      stops.add('engine measurement', async () => {
        measuring.abort();
        await profile;
      });
      // Other work on the box (a busy neighbour, a build) lowers what auto claims.
      const machine = autoCapacity ? watchMachineLoad() : undefined;
      if (machine) stops.add('machine load watch', () => machine.stop());
      // A recogniser behind the calls' audio makes every callee's turn end late.
      const sttBacklogMs = engines.stt.backlogMs?.bind(engines.stt);
      const capacity = createWorkerCapacity({
        configured: config.WORKER_CONCURRENCY,
        profile,
        machine,
        max: AUTO_CONCURRENCY_MAX,
        recognitionBacklogMs: sttBacklogMs,
      });
      if (sttBacklogMs) metrics.watchRecognitionBacklog(sttBacklogMs);
      stops.add('worker capacity', () => capacity.stop());
      readiness.add({
        name: 'engines',
        requiredForCalls: true,
        check: () =>
          engines.dialogue
            ? {
                ok: true,
                detail: Object.entries(engines.report)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join(', '),
              }
            : { ok: false, detail: engines.missing.join('; ') },
      });

      let ariUrl = config.ARI_URL;
      if (!ariUrl) {
        // The embedded default: an ARI-compatible PBX in-process, whose callees speak flite and hear pocketsphinx.
        const simTts = await createFliteTts();
        const simStt = await createPocketsphinxStt();
        stops.add('simulated PBX engines', async () => {
          await simStt.close();
          await simTts.close();
        });
        const sim = await startSimulatedPbx({
          host: '127.0.0.1',
          port: 0,
          username: config.ARI_USERNAME,
          password: config.ARI_PASSWORD,
          scenarios: config.SCENARIOS_DIR ?? path.resolve('scenarios'),
          tts: simTts,
          stt: simStt,
          logger: logger.child({ part: 'pbx-sim' }),
        });
        stops.add('simulated PBX', () => sim.stop());
        ariUrl = sim.url;
        pbxUrl = sim.url;
        logger.info({ url: sim.url }, 'no ARI_URL: started the simulated PBX');
      }
      const ari = await connectAri({ ...config, ARI_URL: ariUrl }, logger.child({ part: 'ari' }));
      stops.add('ARI connection', () => ari.close());
      metrics.watchPbx(() => ari.connected);
      // Unset MEDIA_TRANSPORT with a real Asterisk: chan_websocket (slin16) from 22.6 on, RTP before, as
      // its version says (the media transport asks it and warns when that means 8 kHz).
      const eightKhzFormat = config.MEDIA_FORMAT === 'ulaw' || config.MEDIA_FORMAT === 'alaw';
      const rtpChosen =
        config.MEDIA_TRANSPORT === 'rtp' || (!config.MEDIA_TRANSPORT && !!config.ARI_URL && eightKhzFormat);
      if (rtpChosen && engines.stt.name === 'pocketsphinx') {
        logger.warn(
          'pocketsphinx on 8 kHz call audio recognises little; use MEDIA_TRANSPORT=websocket (slin16) or Vosk',
        );
      }
      const portPool = createPortPool({
        min: config.RTP_PORT_MIN,
        max: config.RTP_PORT_MAX,
        host: config.MEDIA_HOST,
      });
      stops.add('RTP port pool', () => portPool.close());
      const media = createConfiguredMediaTransport({
        transport: config.MEDIA_TRANSPORT,
        simulated: !config.ARI_URL,
        format: config.MEDIA_FORMAT,
        mediaHost: config.MEDIA_HOST,
        portPool,
        ari,
        logger: logger.child({ part: 'media' }),
      });
      stops.add('media transport', () => media.close?.());
      // Live listen: each answered call is offered to the dashboard, and mixed only while someone listens.
      const hub = new ListenHub({ logger: logger.child({ part: 'listen' }) });
      listenHub = hub;
      stops.add('listen hub', () => hub.close());
      // The call path's engines, timed at their boundary for the real-time-factor metrics.
      const callTts = timedTts(engines.tts, metrics);
      const agent = engines.dialogue
        ? createConversationAgent({
            stt: timedStt(engines.stt, metrics),
            tts: callTts,
            vad: engines.vad,
            createVad: () => engines.createVad(),
            dialogue: timedDialogue(engines.dialogue, metrics),
            logger: logger.child({ part: 'agent' }),
            onPartial: (call, text) =>
              bus.publish({ kind: 'partial', callId: call.id, accountId: call.accountId, text }),
          })
        : null;
      const runner = createAriCallRunner({
        ari,
        config: { ...config, ARI_URL: ariUrl },
        logger: logger.child({ part: 'calls' }),
        agent: agent ?? unavailableAgent(engines.missing),
        tts: callTts,
        media: withListenTap(media, hub),
        // Recordings an Asterisk restart left behind are fetched after the reconnect.
        db,
      });
      stops.add('call runner', () => runner.stop());
      readiness.add(runner.readiness);

      const deliverer = createWebhookDeliverer({
        db,
        secrets,
        logger: logger.child({ part: 'webhooks' }),
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        retryHours: config.WEBHOOK_RETRY_HOURS,
        allowHttp: config.WEBHOOK_ALLOW_HTTP,
        allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
        backoff: exponentialBackoff(webhookRetrySchedule(config)),
        pollMs: config.WEBHOOK_POLL_MS,
        onAttempt: (result) => metrics.webhookAttempt(result),
      });
      deliverer.start();
      stops.add('webhook deliverer', () => deliverer.stop());

      const lag = watchEventLoopLag({
        maxLagMs: config.WORKER_MAX_LAG_MS,
        logger: logger.child({ part: 'worker' }),
      });
      stops.add('event loop lag watch', () => lag.stop());
      const workerId = newWorkerId();
      const worker = createCallWorker({
        db,
        store,
        runner,
        workerId,
        logger: logger.child({ part: 'worker' }),
        // With auto the measured capacity bounds the claims; the ceiling only caps a wrong measurement.
        concurrency:
          typeof config.WORKER_CONCURRENCY === 'number' ? config.WORKER_CONCURRENCY : AUTO_CONCURRENCY_MAX,
        capacity,
        pollMs: config.WORKER_POLL_MS,
        staleSeconds: config.WORKER_STALE_SECONDS,
        // Not while the PBX is unreachable or refusing originates, nor while this process lags behind:
        // a call it claimed then would fail, where another worker could carry it.
        canClaim: () => ari.connected && agent !== null && runner.claimable() && !lag.behind(),
        // A status change wrote an outbox row: send it now rather than on the deliverer's next poll.
        onTransition: () => deliverer.wake(),
        // The account's concurrent-call cap and TRUNK_MAX_CHANNELS, across every worker (src/calls/worker.ts).
        limits: config,
        // Expired, do-not-call, calling hours: decided right before each dial (src/calls/dial-gate.ts).
        gate: createDialGate({ db, config, deploymentDnc: dncList }),
        // TRUNK_MAX_CPS across every worker of the database (src/calls/trunk-pacer.ts).
        pacer: config.TRUNK_MAX_CPS
          ? createTrunkPacer({
              db,
              maxCps: config.TRUNK_MAX_CPS,
              workerId,
              logger: logger.child({ part: 'trunk' }),
            })
          : undefined,
      });
      await worker.start();
      metrics.watchWorker(() => worker.activeCalls().length);
      metrics.watchCapacity(() => worker.capacity());
      // How late the agent's replies come, with how many calls live, tells the capacity to back off.
      store.onReply = (ms) => capacity.recordReply(ms, worker.activeCalls().length);
      if (profile) {
        void profile.then((measured) => {
          if (measured && !measuring.signal.aborted)
            logger.info(
              { profile: measured, capacity: worker.capacity() },
              'voice engines measured: the worker sizes its capacity from them',
            );
        });
      } else {
        logger.info({ capacity: worker.capacity() }, 'worker capacity is WORKER_CONCURRENCY');
      }
      wakeWorker = () => worker.wake();
      // SIGTERM: claim nothing new, let live calls finish for DRAIN_SECONDS, then the agent wraps the
      // rest up (a goodbye, then hangup). Queued calls stay queued for the other workers.
      stops.add(
        'call worker',
        async () => {
          const live = worker.activeCalls().length;
          if (live > 0) {
            logger.info(
              { calls: live, drainSeconds: config.DRAIN_SECONDS },
              'stopping: live calls may finish before the worker exits',
            );
          }
          await worker.stop({ drainMs: config.DRAIN_SECONDS * 1000 });
        },
        worker.stopPhase,
      );

      const sweeper = createRecordingSweeper({
        db,
        dir: config.recordingsDir,
        retentionDays: config.RECORDINGS_RETENTION_DAYS,
        logger: logger.child({ part: 'recordings' }),
      });
      sweeper.start();
      stops.add('recording sweeper', () => sweeper.stop());
    }

    let url: string | null = null;
    if (runsApi) {
      await bootstrapFirstAccount(db, accountService, config, logger);
      const app = createApp({
        db,
        config,
        logger: logger.child({ part: 'api' }),
        accounts: accountService,
        calls: store,
        readiness,
        guardrails: { allowedCountries: config.ALLOWED_COUNTRIES, irsf: loadIrsfList(config.IRSF_LIST_FILE) },
        onCallQueued: () => wakeWorker?.(),
        metrics,
        bus,
        doNotCallList: dncList,
        extraRoutes: (a) => {
          const mcp = createMcpHttpHandler((req) => a.fetch(req));
          a.all('/mcp', (c) => mcp(c.req.raw));
        },
      });
      // The dashboard's live listen socket. The audio is in this process only when it runs a worker too.
      const listen = createListenEndpoint({
        hub: listenHub,
        calls: store,
        resolveUser: sessionUserResolver(db, {
          idleMs: config.DASHBOARD_SESSION_IDLE_MINUTES * 60_000,
          absoluteMs: config.DASHBOARD_SESSION_MAX_HOURS * 3_600_000,
        }),
        logger: logger.child({ part: 'listen' }),
        allowedOrigins: [config.publicBaseUrl],
      });
      const server = await startHttpServer(app, {
        port: config.PORT,
        host: config.HOST,
        onUpgrade: listen.handleUpgrade,
      });
      stops.add('API server', () => server.close());
      // Stops run in reverse: the listening sockets close first, or the server would wait for them.
      stops.add('listen endpoint', () => listen.close());
      // Open event streams end with the bus, before the server waits for their sockets.
      stops.add('event streams', () => bus.close());
      url = server.url;
      logger.info({ url: server.url, role: opts.role }, 'agentline is serving');
    }

    let metricsUrl: string | null = null;
    if (config.METRICS_PORT !== undefined) {
      const server = await startMetricsServer({
        metrics,
        token: config.METRICS_TOKEN,
        port: config.METRICS_PORT,
        host: config.HOST,
      });
      stops.add('metrics server', () => server.close());
      metricsUrl = server.url;
      logger.info({ url: `${server.url}/metrics` }, 'serving metrics');
    }

    return { config, url, pbxUrl, metricsUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Takes group and other access off what is already under DATA_DIR (and RECORDINGS_DIR): files made by
 * an earlier version or under a looser umask, and the embedded database's initial files, which PGlite
 * writes 0666 whatever the umask.
 */
function restrictDataDirs(config: Config, logger: Logger): void {
  for (const dir of new Set([config.dataDir, config.recordingsDir])) {
    const { changed, refused } = restrictTree(dir);
    if (changed > 0) logger.info({ dir, changed }, 'made existing files private (0600/0700)');
    if (refused.length > 0)
      logger.warn(
        { dir, count: refused.length, first: refused[0] },
        'some files under the data folder belong to another user and stay readable by others',
      );
  }
}

async function openConfiguredDatabase(config: Config, logger: Logger, stops: StopSteps): Promise<Database> {
  let database: Database;
  if (config.DATABASE_URL) {
    database = await openDatabase({ url: config.DATABASE_URL });
  } else {
    const dir = path.join(config.dataDir, 'db');
    const lock = acquireEmbeddedLock(dir);
    stops.add('embedded database lock', () => lock.release());
    database = await openDatabase({ pgliteDir: dir });
    logger.info({ dir }, 'no DATABASE_URL: using the embedded database');
  }
  stops.add('database', () => database.close());
  await database.migrate();
  return database;
}

/**
 * A first start on an empty database creates an account, a demo caller ID and an agent key, so
 * `npm start` can place a call at once. The key goes to a 0600 file, never to the log.
 */
async function bootstrapFirstAccount(
  db: Database['db'],
  service: AccountService,
  config: Config,
  logger: Logger,
): Promise<void> {
  const [any] = await db.select({ id: accounts.id }).from(accounts).limit(1);
  if (any) return;
  const { accountId } = await service.createAccount('default');
  await service.addNumber(accountId, '+14155550199', true);
  const { key } = await service.createApiKey(accountId);
  // A person with only a browser gets in too: an owner who is also the instance admin, whose one-time link
  // (a credential, so in the private file and never in the log) sets the password.
  const owner = await createUser(db, {
    accountId,
    email: config.FIRST_OWNER_EMAIL,
    role: 'owner',
    instanceAdmin: true,
  });
  const dashboard = {
    email: owner.email,
    signInLink: signInLinkUrl(config.publicBaseUrl, owner.signInToken ?? ''),
  };
  const file = path.join(config.dataDir, 'first-api-key.json');
  fs.writeFileSync(
    file,
    `${JSON.stringify({ accountId, key, callerId: '+14155550199', dashboard }, null, 2)}\n`,
    { mode: 0o600 },
  );
  logger.info(
    { file, accountId, dashboardUser: owner.email },
    `created the first account; its agent key and the dashboard owner's one-time sign-in link (48 hours) are in this file, readable only by this user. Save the key, sign in, then delete the file: rm ${file}`,
  );
}

/** Stands in for the agent while no dialogue model is installed; the worker claims nothing then anyway. */
function unavailableAgent(missing: string[]) {
  const reason = `no dialogue model: ${missing.join('; ')}`;
  return {
    converse: async () => {
      throw new Error(reason);
    },
    summarize: async () => ({ summary: null, extracted: null }),
  };
}
