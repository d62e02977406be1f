import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { SpeechToText, TextToSpeech } from '../voice/types.js';
import { ariRoutes } from './ari-routes.js';
import { createAriServer, type PbxImpairments } from './ari-server.js';
import { ariTimestamp } from './ari-values.js';
import type { CalleeLogEntry } from './callee.js';
import { type ChaosOptions, createChaos } from './chaos.js';
import { EventHub } from './event-hub.js';
import { createPbxCore } from './pbx-core.js';
import { RecordingStore } from './recording-store.js';
import { loadScenarioDir, type ParsedScenario, parseScenario, type Scenario } from './scenario.js';
import { createSeededRandom } from './seeded-random.js';

export type { CalleeLogEntry } from './callee.js';
export { CHAOS_DEFAULTS, type ChaosOptions, chaosFromEnv } from './chaos.js';
export {
  BUNDLED_SCENARIOS_DIR,
  loadScenarioDir,
  parseScenario,
  type Scenario,
  ScenarioError,
} from './scenario.js';

export interface SimulatedPbxOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 0: any free port). */
  port?: number;
  username: string;
  password: string;
  /** Callee scenarios, or a directory of scenario JSON files (default: none, every number gets the default callee). */
  scenarios?: Scenario[] | string;
  tts: TextToSpeech;
  stt: SpeechToText;
  logger: Logger;
  /** Where bridge recordings are stored (default: a temporary directory removed by `stop()`). */
  storageDir?: string;
  /**
   * Seed of the simulator's own random timing (the Stasis entry delay below); default: the chaos
   * seed in chaos mode, else `PBX_SIM_SEED`, else 1, so a test run draws the same delays each time
   * (another seed explores other timings). It is logged at start.
   */
  seed?: number;
  /**
   * How long after its HTTP answer an externalMedia channel enters the application (StasisStart),
   * drawn at random from [min, max] ms (default 0–50). Real Asterisk answers first and runs Stasis()
   * for the channel on another thread; an `addChannel` before then is answered 422. `false`: 0 ms.
   */
  stasisEntryDelayMs?: { min: number; max: number } | false;
  /** Chaos mode: random delays, reorderings of independent events and 5xx on non-essential requests (chaos.ts). */
  chaos?: ChaosOptions;
  /**
   * The Asterisk version `GET /asterisk/info` reports (default 22.6.0, the first with the chan_websocket
   * agentline uses), so a client's choice by version can be tried against older releases.
   */
  asteriskVersion?: string;
}

export interface SimulatedPbx {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `url + '/ari'` */
  ariUrl: string;
  stop(): Promise<void>;
  channels(): unknown[];
  bridges(): unknown[];
  /** What the callee(s) at `number` heard (STT text, DTMF) and said, oldest first. */
  calleeLog(number: string): CalleeLogEntry[];
  /**
   * What the last callee answered at `number` got from its bridge: media ticks (20 ms each) since it
   * answered, and the frames in them, silence included; null before any answered. A two-party bridge
   * passes only what the other party sends, so a caller that sends nothing leaves `frames` behind.
   */
  calleeHearing(number: string): { ticks: number; frames: number } | null;
  /** Test hook: closes every `/ari/events` socket abruptly, as a network drop would. */
  dropEventSockets(): void;
  /** Reproduces trouble from now on (replacing the previous set; `{}` clears it): see PbxImpairments. */
  impair(impairments: PbxImpairments): void;
  /** Asterisk's recordings folder (stored recordings live here as `<name>.wav`, or `<name>.wav16` for `wav16`); tests may remove it. */
  readonly recordingsDir: string;
  /**
   * Test hook: Asterisk goes down under its calls until `comeBack()`. `shutdown` (a restart, `core
   * restart now`): every channel gets the shutdown sequence (a soft ChannelHangupRequest with cause 4,
   * a ringing one's Dial NOANSWER and ChannelDestroyed cause 0, an answered one's cause 16), then the event sockets close. `crash`
   * (killed): the event sockets die first, so none of that reaches anyone. Either way live recordings
   * stay in the recordings folder, and every ARI connection is reset until `comeBack()`.
   */
  goDown(how?: 'shutdown' | 'crash'): Promise<void>;
  /** Asterisk is back (with no channels, its stored recordings kept): ARI answers again. */
  comeBack(): void;
  /** The chaos mode it runs in (seed and bounds, defaults filled in), or null. */
  readonly chaos: Required<ChaosOptions> | null;
}

/** The seed of the simulator's random timing when none is given: runs are repeatable by default. */
const DEFAULT_SEED = 1;

/** Starts the ARI-compatible simulated PBX on a real HTTP/WebSocket server. */
export async function startSimulatedPbx(opts: SimulatedPbxOptions): Promise<SimulatedPbx> {
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger.child({ component: 'pbx-sim' });
  let scenarios: ParsedScenario[];
  if (typeof opts.scenarios === 'string') scenarios = await loadScenarioDir(opts.scenarios);
  else scenarios = (opts.scenarios ?? []).map((s, i) => parseScenario(s, `scenarios[${i}]`));

  const ownsStorage = !opts.storageDir;
  const storageDir = opts.storageDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-pbx-sim-')));
  await fs.mkdir(storageDir, { recursive: true });

  const asteriskId = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const chaos = opts.chaos ? createChaos(opts.chaos) : null;
  const hub = new EventHub(asteriskId, logger, chaos);
  const recordings = new RecordingStore(storageDir);
  const mediaHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const impairments: PbxImpairments = {};
  const envSeed = Number(process.env.PBX_SIM_SEED);
  const seed =
    opts.seed ??
    opts.chaos?.seed ??
    (process.env.PBX_SIM_SEED && Number.isInteger(envSeed) ? envSeed : DEFAULT_SEED);
  const stasisEntry =
    opts.stasisEntryDelayMs === false ? { min: 0, max: 0 } : (opts.stasisEntryDelayMs ?? { min: 0, max: 50 });
  const core = createPbxCore({
    scenarios,
    tts: opts.tts,
    stt: opts.stt,
    logger,
    hub,
    recordings,
    mediaHost,
    random: createSeededRandom(seed),
    stasisEntryDelayMs: () => impairments.stasisEntryDelayMs ?? stasisEntry,
  });
  const server = createAriServer({
    routes: ariRoutes(core, recordings, {
      asteriskId,
      startedAt: ariTimestamp(),
      version: opts.asteriskVersion ?? '22.6.0',
    }),
    core,
    hub,
    username: opts.username,
    password: opts.password,
    logger,
    impairments,
    chaos,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = mediaHost.includes(':') ? `[${mediaHost}]` : mediaHost;
  const url = `http://${urlHost}:${port}`;
  // The seed reproduces the simulator's random timing of a failing run (PBX_SIM_SEED=…).
  logger.info(
    { url, scenarios: scenarios.length, seed, stasisEntryDelayMs: stasisEntry },
    'simulated PBX listening',
  );
  const chaosInfo = chaos
    ? { seed: chaos.seed, maxDelayMs: chaos.maxDelayMs, errorRate: chaos.errorRate }
    : null;
  // The seed reproduces the run: it is in the log of every chaos run.
  if (chaosInfo) logger.warn({ chaos: chaosInfo }, 'simulated PBX in chaos mode');

  let stopping: Promise<void> | null = null;
  // While down (goDown), each connection is reset as it opens: nobody is listening.
  let down = false;
  server.on('connection', (socket) => {
    if (down) socket.destroy();
  });
  return {
    url,
    ariUrl: `${url}/ari`,
    recordingsDir: storageDir,
    async goDown(how = 'shutdown') {
      down = true;
      if (how === 'crash') hub.dropAll();
      await core.shutDownCalls();
      hub.closeAll();
      server.closeAllConnections();
    },
    comeBack() {
      down = false;
    },
    chaos: chaosInfo,
    channels: () => core.listChannels(),
    bridges: () => core.listBridges(),
    calleeLog: (number) => core.calleeLog(number),
    calleeHearing: (number) => core.calleeHearing(number),
    dropEventSockets: () => hub.dropAll(),
    impair(next) {
      for (const k of Object.keys(impairments) as (keyof PbxImpairments)[]) delete impairments[k];
      Object.assign(impairments, next);
    },
    stop() {
      stopping ??= (async () => {
        await core.stop();
        hub.closeAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (ownsStorage) await fs.rm(storageDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
