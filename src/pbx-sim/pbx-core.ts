import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { MEDIA_FORMATS, type MediaFormat } from '../telephony/media/codec.js';
import type { SpeechToText, TextToSpeech } from '../voice/types.js';
import {
  ariTimestamp,
  CAUSES,
  type Cause,
  causeByCode,
  createIdSource,
  dialStatusForCause,
  HANGUP_REASONS,
  hex8,
  SOFTHANGUP,
} from './ari-values.js';
import { type Callee, type CalleeLogEntry, calleeLogEntry, createCallee } from './callee.js';
import { parseEndpoint } from './endpoint.js';
import { AriError } from './errors.js';
import type { AriEvent, EventHub } from './event-hub.js';
import { createMediaClock, FRAME_SAMPLES } from './media-clock.js';
import type { MediaPort } from './media-port.js';
import { type BridgeRecorder, createBridgeRecorder, type RecordingStore } from './recording-store.js';
import { createRtpPort } from './rtp-port.js';
import type { ParsedScenario } from './scenario.js';
import { DEFAULT_SCENARIO } from './scenario.js';
import type { SeededRandom } from './seeded-random.js';
import { createWsMediaPort, type WsMediaPort } from './ws-media-port.js';

type ChannelState = 'Down' | 'Ringing' | 'Up';

interface SimChannel {
  id: string;
  name: string;
  kind: 'phone' | 'rtp' | 'websocket' | 'snoop';
  state: ChannelState;
  caller: { name: string; number: string };
  connected: { name: string; number: string };
  dialplan: { context: string; exten: string; priority: number; app_name: string; app_data: string };
  creationtime: string;
  vars: Map<string, string>;
  /** Variables Asterisk shows in `channelvars` (externalMedia's addresses). */
  exposedVars: string[];
  /** The application whose Stasis() the channel is in, null while it runs dialplan. */
  app: string | null;
  stasisApp: string;
  /**
   * The application that originated the channel. Asterisk subscribes it to the channel at originate
   * (`stasis_app_subscribe_channel`), so it keeps getting the channel's events while the channel runs
   * dialplan outside Stasis (AMD), its hangup included.
   */
  subscribedApp: string | null;
  inStasis: boolean;
  bridgeId: string | null;
  port: MediaPort | null;
  callee: Callee | null;
  number: string;
  timers: Set<NodeJS.Timeout>;
  ended: boolean;
  scenario: ParsedScenario | null;
  /** A snoop channel: the channel it listens to (spy `in`: what that channel sends). */
  spyOn?: string;
  /** A callee's ear: media ticks since answer, and frames the bridge gave it in them (test hook). */
  heard?: { ticks: number; frames: number };
}

interface SimBridge {
  id: string;
  name: string;
  types: string[];
  mixing: boolean;
  creationtime: string;
  members: string[];
  apps: Set<string>;
  recorder: BridgeRecorder | null;
}

export interface PbxCoreDeps {
  scenarios: ParsedScenario[];
  tts: TextToSpeech;
  stt: SpeechToText;
  logger: Logger;
  hub: EventHub;
  recordings: RecordingStore;
  /** Address RTP sockets bind to and report in UNICASTRTP_LOCAL_ADDRESS. */
  mediaHost: string;
  /** The simulator's own random timing (the Stasis entry delay below). */
  random: SeededRandom;
  /**
   * How long after its HTTP answer an externalMedia channel enters the application (its StasisStart),
   * drawn uniformly from [min, max] ms; read at each request, so `impair()` can change it. Real
   * Asterisk answers the request first and runs Stasis() for the channel on another thread; until
   * then the channel is not in the application, and `addChannel` is refused with 422.
   */
  stasisEntryDelayMs: () => StasisEntryDelay;
}

/** The externalMedia channel's StasisStart delay after the HTTP answer, in ms (both included). */
export interface StasisEntryDelay {
  min: number;
  max: number;
}

export interface OriginateParams {
  endpoint?: string;
  app?: string;
  appArgs?: string;
  extension?: string;
  context?: string;
  callerId?: string;
  timeout?: number;
  channelId?: string;
  variables?: Record<string, string>;
}

export interface ExternalMediaParams {
  channelId?: string;
  app?: string;
  external_host?: string;
  encapsulation?: string;
  transport?: string;
  connection_type?: string;
  format?: string;
  direction?: string;
  variables?: Record<string, string>;
}

export interface RecordParams {
  name?: string;
  format?: string;
  maxDurationSeconds?: number;
  maxSilenceSeconds?: number;
  ifExists?: string;
  beep?: boolean;
  terminateOn?: string;
}

function parseCallerId(callerId: string | undefined): { name: string; number: string } {
  if (!callerId) return { name: '', number: '' };
  const m = /^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$/.exec(callerId);
  if (m) return { name: m[1].trim(), number: m[2].trim() };
  return { name: '', number: callerId.trim() };
}

/**
 * The PBX itself: channels, bridges, the media mixer, callees and recordings, with Asterisk's
 * ordering of events. The HTTP layer (`ari-server.ts`) only translates requests into these calls.
 */
export function createPbxCore(deps: PbxCoreDeps) {
  const { hub, logger } = deps;
  const ids = createIdSource();
  const channels = new Map<string, SimChannel>();
  const bridges = new Map<string, SimBridge>();
  const mediaSockets = new Map<string, WsMediaPort>();
  const calleeLogs = new Map<string, CalleeLogEntry[]>();
  /** The ear of the last callee answered at each number (SimChannel.heard). */
  const calleeEars = new Map<string, { ticks: number; frames: number }>();
  const byNumber = new Map(deps.scenarios.map((s) => [s.number, s]));
  const fallbackScenario = byNumber.get('*') ?? DEFAULT_SCENARIO;
  const clock = createMediaClock((err) => logger.error({ err }, 'pbx-sim: media tick failed'));
  const stasisEntryRandom = deps.random.fork('stasis-entry');
  /** A channel created for the app (externalMedia) enters it later, as Asterisk's other thread does it. */
  const enterStasisLater = (ch: SimChannel) => {
    const { min, max } = deps.stasisEntryDelayMs();
    later(ch, stasisEntryRandom.int(Math.max(0, min), Math.max(0, min, max)), () => {
      ch.state = 'Up';
      enterStasis(ch, []);
    });
  };
  let stopped = false;

  const scenarioFor = (number: string): ParsedScenario =>
    byNumber.get(number) ?? byNumber.get(`+${number.replace(/^\+/, '')}`) ?? fallbackScenario;

  // ---------- JSON views ----------
  const channelJson = (ch: SimChannel) => {
    const json: Record<string, unknown> = {
      id: ch.id,
      name: ch.name,
      state: ch.state,
      protocol_id: '',
      caller: { ...ch.caller },
      connected: { ...ch.connected },
      accountcode: '',
      dialplan: { ...ch.dialplan },
      creationtime: ch.creationtime,
      language: 'en',
    };
    if (ch.exposedVars.length) {
      json.channelvars = Object.fromEntries(ch.exposedVars.map((k) => [k, ch.vars.get(k) ?? '']));
    }
    return json;
  };

  const bridgeJson = (b: SimBridge) => ({
    id: b.id,
    technology: isSoftmix(b) ? 'softmix' : 'simple_bridge',
    bridge_type: b.types.includes('holding') ? 'holding' : 'mixing',
    bridge_class: 'stasis',
    creator: 'Stasis',
    name: b.name,
    channels: [...b.members],
    creationtime: b.creationtime,
    video_mode: 'none',
  });

  const emitChannel = (ch: SimChannel, event: AriEvent) => {
    const app = ch.app ?? ch.subscribedApp;
    if (app) hub.emit(app, event);
    if (ch.subscribedApp && ch.subscribedApp !== app) hub.emit(ch.subscribedApp, event);
  };
  const emitBridge = (b: SimBridge, event: AriEvent) => {
    for (const app of b.apps) hub.emit(app, event);
  };

  const logCallee = (ch: SimChannel, e: Omit<CalleeLogEntry, 'channelId' | 'number' | 'at'>) => {
    let list = calleeLogs.get(ch.number);
    if (!list) {
      list = [];
      calleeLogs.set(ch.number, list);
    }
    list.push(calleeLogEntry(ch.id, ch.number, e));
  };

  const later = (ch: SimChannel, ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      ch.timers.delete(t);
      if (!ch.ended) fn();
    }, ms);
    ch.timers.add(t);
  };

  const need = (id: string): SimChannel => {
    const ch = channels.get(id);
    if (!ch) throw new AriError(404, 'Channel not found');
    return ch;
  };

  const needInStasis = (id: string): SimChannel => {
    const ch = need(id);
    if (!ch.inStasis) throw new AriError(409, 'Channel not in Stasis application');
    return ch;
  };

  const setState = (ch: SimChannel, state: ChannelState) => {
    if (ch.state === state) return;
    ch.state = state;
    emitChannel(ch, { type: 'ChannelStateChange', channel: channelJson(ch) });
  };

  const enterStasis = (ch: SimChannel, args: string[]) => {
    ch.inStasis = true;
    ch.app = ch.stasisApp;
    ch.dialplan = { ...ch.dialplan, app_name: 'Stasis', app_data: [ch.stasisApp, ...args].join(',') };
    emitChannel(ch, { type: 'StasisStart', args, channel: channelJson(ch) });
  };

  const newChannel = (
    init: Partial<SimChannel> & Pick<SimChannel, 'name' | 'kind' | 'stasisApp'>,
  ): SimChannel => {
    const id = init.id ?? ids.next();
    const ch: SimChannel = {
      state: 'Down',
      caller: { name: '', number: '' },
      connected: { name: '', number: '' },
      dialplan: { context: 'default', exten: 's', priority: 1, app_name: '', app_data: '' },
      creationtime: ariTimestamp(),
      vars: new Map(),
      exposedVars: [],
      app: init.stasisApp,
      subscribedApp: null,
      inStasis: false,
      bridgeId: null,
      port: null,
      callee: null,
      number: '',
      timers: new Set(),
      ended: false,
      scenario: null,
      ...init,
      id,
    };
    channels.set(id, ch);
    return ch;
  };

  // ---------- bridges ----------
  const leaveBridge = (ch: SimChannel) => {
    if (!ch.bridgeId) return;
    const b = bridges.get(ch.bridgeId);
    ch.bridgeId = null;
    if (!b) return;
    b.members = b.members.filter((m) => m !== ch.id);
    emitBridge(b, { type: 'ChannelLeftBridge', bridge: bridgeJson(b), channel: channelJson(ch) });
  };

  const joinBridge = (b: SimBridge, ch: SimChannel) => {
    if (ch.bridgeId === b.id) return;
    leaveBridge(ch);
    ch.bridgeId = b.id;
    b.members.push(ch.id);
    if (ch.app) b.apps.add(ch.app);
    emitBridge(b, { type: 'ChannelEnteredBridge', bridge: bridgeJson(b), channel: channelJson(ch) });
  };

  // ---------- hangup ----------
  /**
   * `by`: the app (ARI DELETE: `ast_softhangup(EXPLICIT)`, a soft request whose cause is 0x20), the
   * far end (a hangup queued with its Q.850 cause), or Asterisk shutting down (`ast_softhangup(SHUTDOWN)`
   * on every channel: a soft request with cause 0x04; the dial then reports NOANSWER, the cause 0).
   * `dialstatus`: the final Dial event of an unanswered callee; by default the status Asterisk
   * derives from the cause, null for none at all (a ring timeout, a missing extension).
   * `techCause`: the SIP answer behind a remote end over the SIP hop (486, 404, 503, 603, 480): real
   * Asterisk carries it as `tech_cause` in ChannelHangupRequest and ChannelDestroyed.
   * `hangupRequest: false`: no ChannelHangupRequest at all, as for an originate whose timeout ran out
   * (dial.c hangs the channel up directly: `Dial RINGING` … `ChannelDestroyed` cause 19, seen on 22.10.1).
   */
  const endChannel = (
    ch: SimChannel,
    cause: Cause,
    by: 'app' | 'remote' | 'shutdown',
    opts: { dialstatus?: string | null; techCause?: number; hangupRequest?: boolean } = {},
  ) => {
    if (ch.ended) return;
    ch.ended = true;
    for (const t of ch.timers) clearTimeout(t);
    ch.timers.clear();
    const tech = opts.techCause !== undefined ? { tech_cause: opts.techCause } : {};
    const hangupRequest = () =>
      emitChannel(ch, {
        type: 'ChannelHangupRequest',
        ...(by === 'remote'
          ? { cause: cause.code, ...tech }
          : { cause: by === 'app' ? SOFTHANGUP.explicit : SOFTHANGUP.shutdown, soft: true }),
        channel: channelJson(ch),
      });
    // Where the request goes relative to the final Dial event of an unanswered callee. A soft hangup
    // (ours, or a shutdown) is published by the thread that requests it, before the dial thread sees
    // it and reports; a SIP final answer is queued as a hangup with its cause, which the dial thread
    // then reports (`ChannelHangupRequest` → `Dial BUSY` on 22.10.1). Over a Local channel the Dial
    // event comes first (the outcome is known from the dialplan before the channel hangs up).
    const network = ch.scenario?.network ?? (ch.name.startsWith('Local/') ? 'local' : 'sip');
    const requestBeforeDial = by !== 'remote' || network === 'sip';
    let requested = false;
    if (ch.kind === 'phone' && ch.state !== 'Up') {
      const dialstatus =
        opts.dialstatus !== undefined
          ? opts.dialstatus
          : by === 'app'
            ? 'CANCEL'
            : dialStatusForCause(cause.code);
      if (dialstatus !== null) {
        if (requestBeforeDial && opts.hangupRequest !== false) {
          hangupRequest();
          requested = true;
        }
        emitChannel(ch, { type: 'Dial', peer: channelJson(ch), dialstring: ch.number, dialstatus });
      }
      logCallee(ch, {
        kind: 'event',
        text: by === 'app' ? 'missed call (caller gave up)' : `not answered: ${cause.text}`,
      });
    } else if (ch.kind === 'phone' && by === 'app') {
      logCallee(ch, { kind: 'event', text: 'caller hung up' });
    }
    if (!requested && opts.hangupRequest !== false) hangupRequest();
    const bridge = ch.bridgeId ? bridges.get(ch.bridgeId) : undefined;
    leaveBridge(ch);
    // The last party hung up: the bridge's recorder stops and its file is complete, so a later
    // `POST /recordings/live/{name}/stop` is answered 404 (the stored recording is there to fetch).
    if (bridge?.recorder && bridge.members.length === 0) finishRecording(bridge, 'done');
    if (ch.inStasis) {
      ch.inStasis = false;
      emitChannel(ch, { type: 'StasisEnd', channel: channelJson(ch) });
    }
    ch.callee?.close();
    ch.port?.close();
    if (ch.kind === 'websocket') mediaSockets.delete(ch.vars.get('MEDIA_WEBSOCKET_CONNECTION_ID') ?? '');
    // A snoop channel's only subscription is its Stasis() (nothing subscribed the app to it at
    // creation, unlike an originate or externalMedia): after its StasisEnd the app hears nothing more
    // of it, and real Asterisk sends no ChannelDestroyed for it (8 of 8 snoops on 22.10.1).
    if (ch.kind !== 'snoop') {
      emitChannel(ch, {
        type: 'ChannelDestroyed',
        cause: cause.code,
        cause_txt: cause.text,
        ...(by === 'remote' ? tech : {}),
        channel: channelJson(ch),
      });
    }
    channels.delete(ch.id);
    // A snoop channel's audiohook goes with the channel it spies on, and Asterisk hangs it up.
    for (const s of [...channels.values()]) if (s.spyOn === ch.id) endChannel(s, CAUSES.normal, 'remote');
  };

  // ---------- the mixer ----------
  const contributions = new Map<string, Int16Array | null>();
  clock.on('produce', () => {
    contributions.clear();
    for (const ch of channels.values()) {
      if (ch.port) contributions.set(ch.id, ch.port.pull());
    }
    // A snoop channel (spy `in`) sends what the channel it spies on sends, in Stasis or in dialplan.
    for (const ch of channels.values()) {
      if (ch.spyOn) contributions.set(ch.id, contributions.get(ch.spyOn) ?? null);
    }
  });
  clock.on('deliver', (at) => {
    for (const ch of channels.values()) if (ch.heard && ch.callee) ch.heard.ticks++;
    for (const b of bridges.values()) {
      const frames: (Int16Array | null)[] = b.members.map((id) => contributions.get(id) ?? null);
      if (b.mixing) {
        // Asterisk's `simple_bridge` (two parties) passes on only the frames a party sends: with nobody
        // else sending, a member gets nothing at all. `softmix` (a third party, or the recorder, joined)
        // mixes on its own timer and sends every member a frame each 20 ms, silence included.
        const softmix = isSoftmix(b);
        for (let j = 0; j < b.members.length; j++) {
          // A member hears only the others.
          let mix: Int32Array | null = null;
          for (let i = 0; i < frames.length; i++) {
            const f = frames[i];
            if (i === j || !f) continue;
            mix ??= new Int32Array(FRAME_SAMPLES);
            for (let k = 0; k < FRAME_SAMPLES; k++) mix[k] += f[k];
          }
          if (softmix) mix ??= new Int32Array(FRAME_SAMPLES);
          const member = channels.get(b.members[j]);
          if (mix && member?.port) {
            member.port.push(clamp(mix));
            if (member.heard) member.heard.frames++;
          }
        }
      }
      if (b.recorder) {
        const all = new Int32Array(FRAME_SAMPLES);
        for (const f of frames) if (f) for (let k = 0; k < FRAME_SAMPLES; k++) all[k] += f[k];
        b.recorder.append(clamp(all), at);
      }
    }
  });

  // ---------- callee (phone) channels ----------
  const answerPhone = (ch: SimChannel, args: string[]) => {
    if (!hub.isConnected(ch.stasisApp)) {
      // Stasis() fails for an application nobody listens to; the dialplan then hangs up.
      logger.warn({ app: ch.stasisApp }, 'pbx-sim: answered call for an application with no event socket');
    }
    setState(ch, 'Up');
    emitChannel(ch, { type: 'Dial', peer: channelJson(ch), dialstring: ch.number, dialstatus: 'ANSWER' });
    const scenario = ch.scenario!;
    const callee = createCallee({
      scenario,
      resolve: scenarioFor,
      channelId: ch.id,
      number: ch.number,
      tts: deps.tts,
      stt: deps.stt,
      logger: logger.child({ callee: ch.number }),
      log: (e) => logCallee(ch, e),
      hangup: () => endChannel(ch, CAUSES.normal, 'remote'),
      sendDtmf: (digit, durationMs) => {
        if (ch.inStasis)
          emitChannel(ch, {
            type: 'ChannelDtmfReceived',
            digit,
            duration_ms: durationMs,
            channel: channelJson(ch),
          });
      },
    });
    ch.callee = callee;
    ch.port = callee;
    ch.heard = { ticks: 0, frames: 0 };
    calleeEars.set(ch.number, ch.heard);
    callee.answered();
    enterStasis(ch, args);
  };

  const originate = (p: OriginateParams) => {
    if (stopped) throw new AriError(503, 'Shutting down');
    if (!p.endpoint) throw new AriError(400, 'Endpoint must be specified');
    if (!p.app) {
      throw new AriError(
        400,
        p.extension
          ? 'Invalid parameters for originating a channel: the simulated PBX has no dialplan to run; originate into an application (app)'
          : 'Application or extension must be specified',
      );
    }
    if (p.channelId && channels.has(p.channelId))
      throw new AriError(409, 'Channel with given unique ID already exists');
    const target = parseEndpoint(p.endpoint);
    const timeoutS = p.timeout ?? 30;
    if (!Number.isFinite(timeoutS))
      throw new AriError(400, 'Invalid parameters for originating a channel: timeout');
    const seq = ids.seq();
    const name =
      target.tech === 'PJSIP'
        ? `PJSIP/${target.resource}-${hex8(seq)}`
        : `Local/${target.number}@${target.resource}-${hex8(seq)};1`;
    const scenario = scenarioFor(target.number);
    const ch = newChannel({
      id: p.channelId,
      name,
      kind: 'phone',
      stasisApp: p.app,
      number: target.number,
      caller: parseCallerId(p.callerId),
      connected: { name: '', number: target.number },
      scenario,
      subscribedApp: p.app,
    });
    for (const [k, v] of Object.entries(p.variables ?? {})) ch.vars.set(k, String(v));
    const args = p.appArgs ? p.appArgs.split(',') : [];
    logCallee(ch, { kind: 'event', text: `incoming call from ${ch.caller.number || 'unknown'}` });

    // What the network does with the call, on the scenario's timetable (or the originate timeout).
    setImmediate(() => {
      if (ch.ended) return;
      const outcome = scenario.outcome;
      if (outcome === 'no_extension') {
        // Nothing to dial: Asterisk accepted the originate, then destroys the channel, cause 0, no Dial.
        later(ch, 20, () => endChannel(ch, CAUSES.unknown, 'remote', { dialstatus: null }));
        return;
      }
      const ringMs = scenario.ringSeconds * 1000;
      const timeoutMs = timeoutS > 0 ? timeoutS * 1000 : Number.POSITIVE_INFINITY;
      const network = scenario.network ?? (target.tech === 'Local' ? 'local' : 'sip');
      const immediate = {
        busy: CAUSES.busy,
        unallocated: CAUSES.unallocated,
        congestion: CAUSES.congestion,
        unavailable: CAUSES.noRoute,
      } as const;
      /** The SIP final answer behind each cause (Asterisk's `tech_cause`); cause 3 has none. */
      const sipCode: Partial<Record<number, number>> = { 1: 404, 17: 486, 19: 480, 21: 603, 34: 503 };
      /** The callee's network ends the call unanswered: over a Local channel busy and congestion lose their cause. */
      const endUnanswered = (
        kind: keyof typeof immediate | 'reject',
        o: { hangupRequest?: boolean } = {},
      ) => {
        if (network === 'local' && (kind === 'busy' || kind === 'congestion')) {
          endChannel(ch, CAUSES.unknown, 'remote', { dialstatus: kind === 'busy' ? 'BUSY' : 'CONGESTION' });
        } else {
          const cause = kind === 'reject' ? CAUSES.rejected : immediate[kind];
          const techCause = network === 'sip' ? sipCode[cause.code] : undefined;
          endChannel(ch, cause, 'remote', { techCause, ...o });
        }
      };
      const dialBegins = () =>
        emitChannel(ch, { type: 'Dial', peer: channelJson(ch), dialstring: target.number, dialstatus: '' });
      if (outcome === 'busy' && network === 'sip' && ringMs === 0) {
        // A 486 before any provisional answer: on 22.10.1 its ChannelHangupRequest comes even before
        // the first `Dial ""`, then `Dial BUSY` and ChannelDestroyed (all within a few ms).
        later(ch, 150, () => {
          emitChannel(ch, {
            type: 'ChannelHangupRequest',
            cause: CAUSES.busy.code,
            tech_cause: 486,
            channel: channelJson(ch),
          });
          dialBegins();
          endUnanswered('busy', { hangupRequest: false });
        });
        return;
      }
      dialBegins();
      if (outcome in immediate && ringMs === 0) {
        later(ch, 150, () => endUnanswered(outcome as keyof typeof immediate));
        return;
      }
      later(ch, 100, () => {
        setState(ch, 'Ringing');
        emitChannel(ch, {
          type: 'Dial',
          peer: channelJson(ch),
          dialstring: target.number,
          dialstatus: 'RINGING',
        });
      });
      if (timeoutMs <= ringMs || outcome === 'noanswer') {
        // The originate's timeout: Asterisk hangs the channel up with cause 19 and no final Dial event
        // (no NOANSWER). A callee network that gives up first (SIP 480) is cause 19 with NOANSWER.
        // The originate's own timeout sends no ChannelHangupRequest either (dial.c hangs the channel up
        // itself): `Dial RINGING` … `ChannelDestroyed` cause 19, tech_cause 480, as on 22.10.1.
        const ringTimeout = timeoutMs <= Math.max(ringMs, 100);
        const techCause = network === 'sip' ? 480 : undefined;
        later(ch, Math.min(timeoutMs, Math.max(ringMs, 100)), () =>
          endChannel(
            ch,
            CAUSES.noAnswer,
            'remote',
            ringTimeout ? { dialstatus: null, hangupRequest: false, techCause } : { techCause },
          ),
        );
        if (timeoutMs <= ringMs) return;
      }
      if (outcome === 'noanswer') return;
      later(ch, Math.max(ringMs, 150), () => {
        if (outcome === 'answer') answerPhone(ch, args);
        else endUnanswered(outcome as keyof typeof immediate | 'reject');
      });
    });
    return channelJson(ch);
  };

  const hangup = (id: string, reason?: string, reasonCode?: string) => {
    const ch = need(id);
    if (reason && reasonCode) throw new AriError(400, "The reason and reason_code can't both be specified");
    let code = 16;
    if (reasonCode !== undefined) {
      code = Number(reasonCode);
      if (!Number.isInteger(code) || code < 0 || code > 127)
        throw new AriError(400, 'Invalid reason for hangup provided');
    } else if (reason !== undefined) {
      const c = HANGUP_REASONS[reason];
      if (c === undefined) throw new AriError(400, 'Invalid reason for hangup provided');
      code = c;
    }
    endChannel(ch, causeByCode(code), 'app');
  };

  const answer = (id: string) => {
    const ch = needInStasis(id);
    if (ch.state !== 'Up') setState(ch, 'Up');
  };

  /**
   * `continue` into the dialplan. The simulated dialplan knows one program: contexts whose name
   * contains "amd" run AMD() on the callee's audio and go back to `Stasis(<app>,amd)`; any other
   * context has no extension, so the channel hangs up, as Asterisk does after leaving Stasis for
   * a missing extension.
   */
  const continueInDialplan = (id: string, context?: string, extension?: string, priority?: number) => {
    const ch = needInStasis(id);
    if (ch.state !== 'Up') throw new AriError(412, 'Channel in invalid state');
    leaveBridge(ch);
    ch.inStasis = false;
    emitChannel(ch, { type: 'StasisEnd', channel: channelJson(ch) });
    ch.app = null;
    const ctx = context ?? ch.dialplan.context;
    ch.dialplan = {
      context: ctx,
      exten: extension ?? ch.dialplan.exten,
      priority: priority ?? 1,
      app_name: 'AMD',
      app_data: '',
    };
    if (!/amd/i.test(ctx) || ch.kind !== 'phone') {
      later(ch, 20, () => endChannel(ch, CAUSES.normal, 'remote'));
      return;
    }
    const amd = ch.scenario?.amd ?? { status: 'HUMAN' as const, analysisMs: 2500 };
    const cause =
      amd.cause ??
      (amd.status === 'MACHINE'
        ? 'LONGGREETING-2000-1500'
        : amd.status === 'HUMAN'
          ? 'HUMAN-300-300'
          : 'TOOLONG-5000');
    later(ch, amd.analysisMs, () => {
      ch.vars.set('AMDSTATUS', amd.status);
      ch.vars.set('AMDCAUSE', cause);
      ch.dialplan = { ...ch.dialplan, priority: ch.dialplan.priority + 1 };
      ch.app = ch.stasisApp;
      enterStasis(ch, ['amd']);
    });
  };

  const getVar = (id: string, variable?: string) => {
    if (!variable) throw new AriError(400, 'Variable name is required');
    // Asterisk reads and writes channel variables through the channel's Stasis control (409 outside it).
    const ch = needInStasis(id);
    const v = ch.vars.get(variable);
    if (v === undefined) throw new AriError(404, 'Provided variable was not found');
    return { value: v };
  };

  const setVar = (id: string, variable?: string, value?: string) => {
    if (!variable) throw new AriError(400, 'Variable name is required');
    const ch = needInStasis(id);
    ch.vars.set(variable, value ?? '');
    emitChannel(ch, { type: 'ChannelVarset', variable, value: value ?? '', channel: channelJson(ch) });
  };

  const sendDtmf = (
    id: string,
    dtmf: string | undefined,
    o: { before: number; between: number; duration: number; after: number },
  ) => {
    if (!dtmf) throw new AriError(400, 'DTMF is required');
    if (!/^[0-9A-Da-d*#,wW]+$/.test(dtmf)) throw new AriError(400, 'Invalid DTMF digits');
    const ch = needInStasis(id);
    if (ch.state !== 'Up') throw new AriError(412, 'Channel in invalid state');
    let at = o.before;
    for (const d of dtmf) {
      if (d === ',' || d === 'w' || d === 'W') {
        at += 500;
        continue;
      }
      const digit = d.toUpperCase();
      at += o.duration;
      later(ch, at, () => ch.callee?.receiveDtmf(digit));
      at += o.between;
    }
  };

  const externalMedia = async (p: ExternalMediaParams) => {
    if (stopped) throw new AriError(503, 'Shutting down');
    if (!p.app) throw new AriError(400, 'app cannot be empty');
    if (!p.format) throw new AriError(400, 'format cannot be empty');
    const encapsulation = p.encapsulation ?? 'rtp';
    const transport = p.transport ?? 'udp';
    const direction = p.direction ?? 'both';
    if (direction !== 'both') throw new AriError(400, 'direction must be both');
    if (!(MEDIA_FORMATS as readonly string[]).includes(p.format)) {
      throw new AriError(
        400,
        `format ${p.format} is not supported by the simulated PBX (ulaw, alaw, slin16)`,
      );
    }
    if (p.channelId && channels.has(p.channelId))
      throw new AriError(409, 'Channel with given unique ID already exists');
    const format = p.format as MediaFormat;
    if (encapsulation === 'rtp' && transport === 'udp') {
      const m = /^(.+):(\d{1,5})$/.exec(p.external_host ?? '');
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        throw new AriError(400, 'external_host must be provided as host:port');
      }
      const port = await createRtpPort({
        bindHost: deps.mediaHost,
        remoteHost: m[1],
        remotePort: Number(m[2]),
        format,
        logger,
      });
      const ch = newChannel({
        id: p.channelId,
        name: `UnicastRTP/${p.external_host}-0x${hex8(ids.seq())}`,
        kind: 'rtp',
        stasisApp: p.app,
        state: 'Down',
        port,
      });
      ch.vars.set('UNICASTRTP_LOCAL_ADDRESS', port.localAddress);
      ch.vars.set('UNICASTRTP_LOCAL_PORT', String(port.localPort));
      ch.exposedVars = ['UNICASTRTP_LOCAL_ADDRESS', 'UNICASTRTP_LOCAL_PORT'];
      for (const [k, v] of Object.entries(p.variables ?? {})) ch.vars.set(k, String(v));
      const json = channelJson(ch);
      enterStasisLater(ch);
      return json;
    }
    if (transport === 'websocket' && encapsulation === 'none') {
      if ((p.connection_type ?? 'client') !== 'server') {
        throw new AriError(
          400,
          'the simulated PBX supports websocket media with connection_type=server only',
        );
      }
      if (format !== 'slin16')
        throw new AriError(400, 'the simulated PBX carries websocket media as slin16 only');
      const connectionId = randomUUID();
      const id = p.channelId ?? ids.next();
      const name = `WebSocket/${connectionId}/0x${hex8(ids.seq())}`;
      let ch: SimChannel | null = null;
      const port = createWsMediaPort({
        connectionId,
        channelName: name,
        channelId: id,
        logger,
        onPeerClosed: () => {
          if (ch) endChannel(ch, CAUSES.normal, 'remote');
        },
      });
      ch = newChannel({ id, name, kind: 'websocket', stasisApp: p.app, port });
      ch.vars.set('MEDIA_WEBSOCKET_CONNECTION_ID', connectionId);
      ch.vars.set('MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE', '640');
      ch.exposedVars = ['MEDIA_WEBSOCKET_CONNECTION_ID', 'MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE'];
      for (const [k, v] of Object.entries(p.variables ?? {})) ch.vars.set(k, String(v));
      mediaSockets.set(connectionId, port);
      const json = channelJson(ch);
      enterStasisLater(ch);
      return json;
    }
    throw new AriError(
      400,
      `encapsulation=${encapsulation} transport=${transport} is not supported by the simulated PBX (rtp/udp, or none/websocket)`,
    );
  };

  /**
   * `POST /channels/{id}/snoop`: a channel in `app` that hears `id` (spy `in`: what `id` sends), also
   * while `id` runs dialplan outside Stasis (AMD). Like externalMedia's, it enters the application on
   * another thread after the HTTP answer. Only spy `in` without whisper is simulated.
   */
  const snoop = (
    id: string,
    p: { app?: string; spy?: string; whisper?: string; appArgs?: string; snoopId?: string },
  ) => {
    if (stopped) throw new AriError(503, 'Shutting down');
    const spy = p.spy ?? 'none';
    const whisper = p.whisper ?? 'none';
    const directions = ['none', 'both', 'out', 'in'];
    if (!directions.includes(spy)) throw new AriError(400, 'Invalid direction specified for spy');
    if (!directions.includes(whisper)) throw new AriError(400, 'Invalid direction specified for whisper');
    if (spy === 'none' && whisper === 'none')
      throw new AriError(400, 'Sniff direction and whisper direction cannot both be none');
    if (!p.app) throw new AriError(400, 'Application name is required');
    const target = need(id);
    if (spy !== 'in' || whisper !== 'none')
      throw new AriError(400, 'the simulated PBX snoops with spy=in and whisper=none only');
    if (p.snoopId && channels.has(p.snoopId))
      throw new AriError(409, 'Channel with given unique ID already exists');
    const ch = newChannel({
      id: p.snoopId,
      name: `Snoop/${target.id}-${hex8(ids.seq())}`,
      kind: 'snoop',
      stasisApp: p.app,
      spyOn: target.id,
      port: { pull: () => null, push: () => undefined, close: () => undefined },
    });
    const json = channelJson(ch);
    const args = p.appArgs ? p.appArgs.split(',') : [];
    const { min, max } = deps.stasisEntryDelayMs();
    later(ch, stasisEntryRandom.int(Math.max(0, min), Math.max(0, min, max)), () => {
      ch.state = 'Up';
      enterStasis(ch, args);
    });
    return json;
  };

  const attachMediaSocket = (connectionId: string, ws: WebSocket): boolean => {
    const port = mediaSockets.get(connectionId);
    if (!port || port.isAttached()) return false;
    port.attach(ws);
    return true;
  };

  // ---------- bridges API ----------
  const needBridge = (id: string): SimBridge => {
    const b = bridges.get(id);
    if (!b) throw new AriError(404, 'Bridge not found');
    return b;
  };

  const createBridge = (type?: string, bridgeId?: string, name?: string) => {
    const types = (type ?? 'mixing')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const known = [
      'mixing',
      'holding',
      'dtmf_events',
      'proxy_media',
      'video_sfu',
      'video_single',
      'sdp_label',
    ];
    const bad = types.find((t) => !known.includes(t));
    if (bad) throw new AriError(400, `Invalid bridge type ${bad}`);
    const id = bridgeId ?? randomUUID();
    if (bridges.has(id)) throw new AriError(409, 'Bridge with the same ID already exists');
    const b: SimBridge = {
      id,
      name: name ?? '',
      types,
      mixing: !types.includes('holding'),
      creationtime: ariTimestamp(),
      members: [],
      apps: new Set(),
      recorder: null,
    };
    bridges.set(id, b);
    return bridgeJson(b);
  };

  const channelsFor = (list: string | undefined): SimChannel[] => {
    const idsList = (list ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!idsList.length) throw new AriError(400, 'Channel parameter is required');
    return idsList.map((id) => {
      const ch = channels.get(id);
      if (!ch) throw new AriError(400, 'Channel not found');
      return ch;
    });
  };

  const addChannel = (bridgeId: string, list: string | undefined) => {
    const b = needBridge(bridgeId);
    const chans = channelsFor(list);
    // Asterisk's answer to a channel that exists but has not entered (or has left) the application,
    // e.g. an externalMedia channel whose StasisStart is still to come.
    for (const ch of chans) if (!ch.inStasis) throw new AriError(422, 'Channel not in Stasis application');
    for (const ch of chans) joinBridge(b, ch);
  };

  const removeChannel = (bridgeId: string, list: string | undefined) => {
    const b = needBridge(bridgeId);
    const chans = channelsFor(list);
    for (const ch of chans) if (ch.bridgeId !== b.id) throw new AriError(422, 'Channel not in this bridge');
    for (const ch of chans) leaveBridge(ch);
  };

  /** Resolves once the file is written and the event sent (never rejects). */
  const finishRecording = (b: SimBridge, state: 'done' | 'canceled'): Promise<void> => {
    const rec = b.recorder;
    if (!rec) return Promise.resolve();
    b.recorder = null;
    const done = rec.finish(state);
    return done
      .then((live) =>
        emitBridge(b, { type: state === 'done' ? 'RecordingFinished' : 'RecordingFailed', recording: live }),
      )
      .catch((err) => {
        logger.error({ err }, 'pbx-sim: recording could not be written');
        emitBridge(b, {
          type: 'RecordingFailed',
          recording: { ...rec.json(), state: 'failed', cause: (err as Error).message },
        });
      });
  };

  const destroyBridge = (id: string) => {
    const b = needBridge(id);
    finishRecording(b, 'done');
    for (const chId of [...b.members]) {
      const ch = channels.get(chId);
      if (ch) leaveBridge(ch);
    }
    bridges.delete(id);
    emitBridge(b, { type: 'BridgeDestroyed', bridge: bridgeJson(b) });
  };

  const recordBridge = async (bridgeId: string, p: RecordParams) => {
    const b = needBridge(bridgeId);
    if (!p.name) throw new AriError(400, 'Recording name is required');
    if (!p.format) throw new AriError(400, 'Recording format is required');
    if (b.recorder) throw new AriError(409, 'Bridge is already recording');
    const recorder = createBridgeRecorder({
      store: deps.recordings,
      name: p.name,
      format: p.format,
      targetUri: `bridge:${b.id}`,
      ifExists: p.ifExists ?? 'fail',
      maxDurationSeconds: p.maxDurationSeconds ?? 0,
      onLimit: () => finishRecording(b, 'done'),
      now: clock.now,
    });
    await recorder.ready;
    if (!bridges.has(b.id) || b.recorder) {
      deps.recordings.release(p.name);
      throw bridges.has(b.id)
        ? new AriError(409, 'Bridge is already recording')
        : new AriError(404, 'Bridge not found');
    }
    b.recorder = recorder;
    if (p.beep) {
      // The beep goes to the bridge's members, not into the file.
      const tone = new Int16Array(FRAME_SAMPLES * 10);
      for (let i = 0; i < tone.length; i++)
        tone[i] = Math.round(6000 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
      for (const id of b.members) {
        const port = channels.get(id)?.port;
        for (let f = 0; f < 10; f++) port?.push(tone.subarray(f * FRAME_SAMPLES, (f + 1) * FRAME_SAMPLES));
      }
    }
    const live = recorder.json();
    emitBridge(b, { type: 'RecordingStarted', recording: live });
    return live;
  };

  const liveRecording = (name: string): SimBridge => {
    for (const b of bridges.values()) if (b.recorder?.name === name) return b;
    throw new AriError(404, 'Recording not found');
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const b of bridges.values()) finishRecording(b, 'done');
    for (const ch of [...channels.values()]) endChannel(ch, CAUSES.normal, 'remote');
    bridges.clear();
    clock.stop();
    await deps.recordings.flush();
  };

  /**
   * Asterisk stops under its calls (a restart, `core stop now`): every channel is soft-hung-up with
   * AST_SOFTHANGUP_SHUTDOWN (a ringing one's Dial ends NOANSWER, its cause 0), live recordings are
   * closed and stay in the recordings folder, bridges go. The caller closes the event sockets after.
   * An answered channel is destroyed with cause 16 (seen on 22.10.1 for the callee and the media
   * channel of a live call: soft request 4, RecordingFinished, StasisEnd, ChannelDestroyed 16).
   */
  const shutDownCalls = async () => {
    const written = [...bridges.values()].map((b) => finishRecording(b, 'done'));
    for (const ch of [...channels.values()])
      endChannel(ch, ch.state === 'Up' ? CAUSES.normal : CAUSES.unknown, 'shutdown');
    bridges.clear();
    await Promise.all(written);
  };

  return {
    shutDownCalls,
    listChannels: () => [...channels.values()].map(channelJson),
    getChannel: (id: string) => channelJson(need(id)),
    originate,
    hangup,
    answer,
    continueInDialplan,
    getVar,
    setVar,
    sendDtmf,
    externalMedia,
    attachMediaSocket,
    snoop,
    listBridges: () => [...bridges.values()].map(bridgeJson),
    getBridge: (id: string) => bridgeJson(needBridge(id)),
    createBridge,
    destroyBridge,
    addChannel,
    removeChannel,
    recordBridge,
    getLiveRecording: (name: string) => liveRecording(name).recorder!.json(),
    stopLiveRecording: (name: string) => finishRecording(liveRecording(name), 'done'),
    cancelLiveRecording: (name: string) => finishRecording(liveRecording(name), 'canceled'),
    applications: () =>
      hub.applications().map((name) => ({
        name,
        channel_ids: [...channels.values()].filter((c) => c.app === name).map((c) => c.id),
        bridge_ids: [...bridges.values()].filter((b) => b.apps.has(name)).map((b) => b.id),
        endpoint_ids: [],
        device_names: [],
        events_allowed: [],
        events_disallowed: [],
      })),
    calleeLog: (number: string) => [...(calleeLogs.get(number) ?? [])],
    calleeHearing: (number: string) => {
      const ear = calleeEars.get(number);
      return ear ? { ...ear } : null;
    },
    stop,
  };
}

/** A mixing bridge with a third party (the recorder counts: it joins the bridge as a channel) mixes in softmix. */
function isSoftmix(b: SimBridge): boolean {
  return b.mixing && b.members.length + (b.recorder ? 1 : 0) > 2;
}

function clamp(mix: Int32Array): Int16Array {
  const out = new Int16Array(mix.length);
  for (let i = 0; i < mix.length; i++) {
    const v = mix[i];
    out[i] = v > 32767 ? 32767 : Math.max(v, -32768);
  }
  return out;
}

export type PbxCore = ReturnType<typeof createPbxCore>;
