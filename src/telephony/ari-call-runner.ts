import type { CallControl, CallRunner } from '../calls/call-runner.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { ReadinessCheck } from '../health.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';
import type { TextToSpeech } from '../voice/types.js';
import {
  CallController,
  type CallControllerSettings,
  DEFAULT_CONTROLLER_SETTINGS,
} from './ari/call-controller.js';
import { type AriClient, createAriClient } from './ari/client.js';
import type { MediaTransport } from './ari/media-transport.js';
import type { ConversationAgent } from './call-session.js';
import { createPbxRecordingRecovery, type PbxRecordingRecovery } from './recordings.js';

export interface AriCallRunnerDeps {
  ari: AriClient;
  config: Config;
  logger: Logger;
  agent: ConversationAgent;
  tts: TextToSpeech;
  /** The local end of each call's externalMedia channel (RTP with a port pool, or chan_websocket). */
  media: MediaTransport;
  /** Overrides of the controller's timings and AMD dialplan location (defaults suit production). */
  settings?: Partial<
    Omit<CallControllerSettings, 'app' | 'dialString' | 'ringTimeoutSeconds' | 'recordingsDir'>
  >;
  /**
   * The database, for the recordings a PBX restart left behind: kept on their calls and fetched after
   * the reconnect (`createPbxRecordingRecovery`). Without it they are lost, as before.
   */
  db?: Db;
}

export interface AriCallRunner extends CallRunner {
  /** `pbx`: the events WebSocket is connected. Calls need it. */
  readonly readiness: ReadinessCheck;
  /** Calls being conducted now. */
  activeCalls(): number;
  /**
   * False for a while after an originate did not reach the PBX (the call went back to the queue):
   * the worker then claims nothing, so a PBX that cannot take calls does not turn them into failures.
   * The pause doubles with each such originate (up to a minute) and ends at the first one that reaches it.
   */
  claimable(): boolean;
  /** Hangs up every call still running (each ends failed/worker_shutdown) and waits for their teardown. */
  stop(): Promise<void>;
}

/** The telephony CallRunner: one CallController a call, all on one ARI client. */
export function createAriCallRunner(deps: AriCallRunnerDeps): AriCallRunner {
  const { ari, config } = deps;
  const settings: CallControllerSettings = {
    ...DEFAULT_CONTROLLER_SETTINGS,
    summaryTimeoutMs: config.SUMMARY_TIMEOUT_SECONDS * 1000,
    summaryMaxTokens: config.SUMMARY_MAX_TOKENS,
    transferRecordSeconds: config.TRANSFER_RECORD_SECONDS,
    transferMaxSeconds: config.TRANSFER_MAX_SECONDS,
    ...deps.settings,
    app: config.ARI_APP,
    dialString: config.DIAL_STRING,
    ringTimeoutSeconds: config.RING_TIMEOUT_SECONDS,
    recordingsDir: config.recordingsDir,
  };
  const log = deps.logger.child({ component: 'ari-runner' });
  const recovery: PbxRecordingRecovery | null = deps.db
    ? createPbxRecordingRecovery({
        db: deps.db,
        ari,
        dir: config.recordingsDir,
        logger: deps.logger,
      })
    : null;
  recovery?.start();
  const running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  let stopped = false;
  let pauseMs = 0;
  let pausedUntil = 0;
  const pbxHealth = {
    reached() {
      pauseMs = 0;
      pausedUntil = 0;
    },
    unreached() {
      pauseMs = Math.min(PBX_PAUSE_MAX_MS, pauseMs ? pauseMs * 2 : PBX_PAUSE_FIRST_MS);
      pausedUntil = Date.now() + pauseMs;
      log.warn({ pauseMs }, 'an originate did not reach the PBX; claiming no calls for a while');
    },
  };

  return {
    readiness: {
      name: 'pbx',
      requiredForCalls: true,
      check: () =>
        ari.connected
          ? { ok: true, detail: `connected to ARI at ${redactUrl(ari.baseUrl)} (app ${ari.app})` }
          : {
              ok: false,
              detail: `no ARI events connection to ${redactUrl(ari.baseUrl)}; check that Asterisk is up and ARI_URL, ARI_USERNAME and ARI_PASSWORD are right`,
            },
    },
    activeCalls: () => running.size,
    claimable: () => Date.now() >= pausedUntil,
    async run(ctl: CallControl): Promise<void> {
      if (stopped) {
        // Not dialed, not ended: the worker puts the call back in the queue.
        return;
      }
      // The runner's own abort (stop()) joins the worker's, so either hangs the call up.
      const abort = new AbortController();
      const onCtlAbort = () => abort.abort(ctl.signal.reason);
      if (ctl.signal.aborted) abort.abort(ctl.signal.reason);
      else ctl.signal.addEventListener('abort', onCtlAbort, { once: true });
      const joined: CallControl = {
        get call() {
          return ctl.call;
        },
        signal: abort.signal,
        dialing: () => ctl.dialing(),
        originated: () => ctl.originated?.(),
        requeue: ctl.requeue ? (reason) => ctl.requeue?.(reason) ?? Promise.resolve(false) : undefined,
        answered: () => ctl.answered(),
        addTurn: (t) => ctl.addTurn(t),
        lineDown: (at) => ctl.lineDown?.(at),
        note: (reason) => ctl.note?.(reason),
        end: (o) => ctl.end(o),
      };
      const controller = new CallController({
        ari,
        ctl: joined,
        agent: deps.agent,
        tts: deps.tts,
        media: deps.media,
        logger: deps.logger,
        settings,
        pbxHealth,
        pbxRecordings: recovery ?? undefined,
      });
      const done = controller.run().finally(() => {
        ctl.signal.removeEventListener('abort', onCtlAbort);
        running.delete(ctl.call.id);
      });
      running.set(ctl.call.id, { abort, done });
      await done;
    },
    async stop() {
      stopped = true;
      if (running.size) log.info({ calls: running.size }, 'hanging up running calls');
      for (const r of running.values()) r.abort.abort('shutdown');
      await Promise.allSettled([...running.values()].map((r) => r.done));
      await recovery?.stop();
    },
  };
}

/** The first pause in claiming after an originate did not reach the PBX, and the longest. */
const PBX_PAUSE_FIRST_MS = 1000;
const PBX_PAUSE_MAX_MS = 60_000;

/** Creates the ARI client from the configuration and opens its events socket (waiting up to `waitMs` for it). */
export async function connectAri(
  config: Config,
  logger: Logger,
  opts: { waitMs?: number } = {},
): Promise<AriClient> {
  if (!config.ARI_URL) {
    throw new Error(
      'ARI_URL is not set: point it at Asterisk (e.g. http://127.0.0.1:8088/ari) or run the simulated PBX',
    );
  }
  const client = createAriClient({
    url: config.ARI_URL,
    username: config.ARI_USERNAME,
    password: config.ARI_PASSWORD,
    app: config.ARI_APP,
    logger,
  });
  const waitMs = opts.waitMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  const connected = await Promise.race([
    client.connect().then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
    }),
  ]);
  clearTimeout(timer);
  if (!connected) {
    // Keep trying in the background; readiness reports the PBX as missing meanwhile.
    logger.warn({ ariUrl: config.ARI_URL }, 'ARI not reachable yet; calls wait until it is');
  }
  return client;
}
