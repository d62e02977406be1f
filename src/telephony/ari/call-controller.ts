import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createResampler } from '../../audio/resample.js';
import type { CallControl, CallOutcome } from '../../calls/call-runner.js';
import type { Logger } from '../../logger.js';
import type { TextToSpeech } from '../../voice/types.js';
import type {
  CallAudio,
  CallPreparation,
  CallSession,
  ConversationAgent,
  ConversationEnd,
  ConversationTurn,
  TransferRequest,
  TransferResult,
} from '../call-session.js';
import { DEFAULT_SUMMARY_BOUNDS, summarizeWithin } from '../call-summary.js';
import { withBacklog } from '../opening-audio.js';
import { OpeningWatch } from '../voicemail/opening-watch.js';
import { describeCallFailure, errorFields } from './call-failure.js';
import { classifyUnanswered, isNormalClearing, isShutdownHangup, isSpecificCause } from './call-outcomes.js';
import { type AriClient, AriError } from './client.js';
import type { MediaTransport, PreparedMedia } from './media-transport.js';
import { retryWhileNotInStasis, StasisEntries, StasisEntryTimeout } from './stasis-readiness.js';
import { CallTransfer } from './transfer.js';
import type { AriEvent } from './types.js';

export interface CallControllerSettings {
  app: string;
  /** Dial string with `{to}`, e.g. PJSIP/{to}@trunk. */
  dialString: string;
  ringTimeoutSeconds: number;
  recordingsDir: string;
  amdContext: string;
  amdExtension: string;
  amdPriority: number;
  /** How long AMD may keep the channel in the dialplan before the call is given up. */
  amdTimeoutMs: number;
  /** How long a channel we created (externalMedia) may take to enter the application before the call fails. */
  stasisEntryTimeoutMs: number;
  /** With AMD unsure, how long the opening audio is listened to before the agent starts. */
  unsureListenMs: number;
  /** For how long after answer a beep still turns a conversation into a voicemail. */
  beepWatchMs: number;
  /** A machine answered: longest wait for its beep before the agent takes the call (an IVR has none). */
  beepWaitMs: number;
  /**
   * A machine answered (AMD): quiet after its greeting, with no beep, that ends the wait for one. A
   * voicemail beeps right after its greeting; a business's long greeting or an IVR then waits for an
   * answer, which the agent gives: kept about as short as a reply to a person.
   */
  greetingEndSilenceMs: number;
  /** Time the agent gets to say goodbye at max duration before the line is hung up. */
  goodbyeGraceMs: number;
  /**
   * A worker shutting down after its drain asks the agent to wrap up: time it gets to reach a turn
   * boundary and say goodbye before the line is hung up.
   */
  wrapUpGraceMs: number;
  /** Guard for a PBX that never reports the end of ringing (ring timeout + this). */
  ringGuardMs: number;
  /** The post-call summary is cut off after this long (then a shorter one is used). */
  summaryTimeoutMs: number;
  /** Most tokens the model may write for the summary and the extracted values. */
  summaryMaxTokens: number;
  /** A transferred call: how much of the connected part (callee and person) the recording keeps. */
  transferRecordSeconds: number;
  /** A transferred call: the longest the connected legs are kept up before both are hung up. */
  transferMaxSeconds: number;
}

export const DEFAULT_CONTROLLER_SETTINGS: Omit<
  CallControllerSettings,
  'app' | 'dialString' | 'ringTimeoutSeconds' | 'recordingsDir'
> = {
  amdContext: 'agentline-amd',
  amdExtension: 's',
  amdPriority: 1,
  amdTimeoutMs: 10_000,
  stasisEntryTimeoutMs: 5000,
  unsureListenMs: 4000,
  beepWatchMs: 30_000,
  beepWaitMs: 20_000,
  greetingEndSilenceMs: 1000,
  goodbyeGraceMs: 5000,
  wrapUpGraceMs: 20_000,
  ringGuardMs: 15_000,
  summaryTimeoutMs: DEFAULT_SUMMARY_BOUNDS.timeoutMs,
  summaryMaxTokens: DEFAULT_SUMMARY_BOUNDS.maxTokens,
  transferRecordSeconds: 60,
  transferMaxSeconds: 3600,
};

export interface CallControllerDeps {
  ari: AriClient;
  ctl: CallControl;
  agent: ConversationAgent;
  tts: TextToSpeech;
  media: MediaTransport;
  logger: Logger;
  settings: CallControllerSettings;
  /** Told whether originates reach the PBX, so the worker can stop claiming while they do not. */
  pbxHealth?: { reached(): void; unreached(): void };
  /** Told of a recording left on an unreachable PBX, to be fetched after the reconnect (recordings.ts). */
  pbxRecordings?: {
    remember(callId: string, name: string): void;
    /** The recording is on the PBX under `name` from now on (noted on the call, for a worker that dies). */
    started?(callId: string, name: string): void;
    /** The recording is off the PBX (fetched and deleted, or never made). */
    settled?(callId: string, name: string): void;
  };
}

/** Where a call is; every step forward is one transition, and `ended` is final. */
export type ControllerState =
  | 'idle'
  | 'originating'
  | 'ringing'
  | 'amd'
  | 'bridging'
  | 'talking'
  | 'voicemail'
  | 'ending'
  | 'ended';

const NEXT: Record<ControllerState, readonly ControllerState[]> = {
  idle: ['originating', 'ending'],
  originating: ['ringing', 'amd', 'ending'],
  ringing: ['amd', 'bridging', 'ending'],
  amd: ['bridging', 'talking', 'voicemail', 'ending'],
  bridging: ['amd', 'talking', 'voicemail', 'ending'],
  talking: ['voicemail', 'ending'],
  voicemail: ['ending'],
  ending: ['ended'],
  ended: [],
};

/**
 * What the PBX holds of ours, and how the call is being closed: small one-way state machines beside
 * the call's own. A step they do not allow (a late or repeated event) changes nothing.
 *
 * The callee's channel: `dialed` once the originate is sent, `seen` once any event names it (so the
 * originate reached the PBX), `gone` once destroyed, `never_placed` when the originate did not reach
 * the PBX and the call went back to the queue.
 */
type CalleeChannel = 'not_dialed' | 'dialed' | 'seen' | 'gone' | 'never_placed';
const CALLEE_NEXT: Record<CalleeChannel, readonly CalleeChannel[]> = {
  not_dialed: ['dialed', 'never_placed'],
  dialed: ['seen', 'gone', 'never_placed'],
  seen: ['gone'],
  gone: [],
  never_placed: [],
};

/** The externalMedia channel: `created` from the request on (teardown hangs it up), `gone` once destroyed. */
type MediaChannel = 'none' | 'created' | 'gone';
const MEDIA_NEXT: Record<MediaChannel, readonly MediaChannel[]> = {
  none: ['created', 'gone'],
  created: ['gone'],
  gone: [],
};

/** The bridge recording: `finished` once the PBX reported it finished (or failed): its file is complete. */
type Recording = 'none' | 'recording' | 'finished';
const RECORDING_NEXT: Record<Recording, readonly Recording[]> = {
  none: ['recording'],
  recording: ['finished'],
  finished: [],
};

/**
 * Why we are bringing the conversation to a close, the agent saying goodbye meanwhile: its time ran
 * out, or the worker is shutting down (max duration still supersedes a shutdown's wrap-up).
 */
type Closing = 'none' | 'max_duration' | 'shutdown';
const CLOSING_NEXT: Record<Closing, readonly Closing[]> = {
  none: ['max_duration', 'shutdown'],
  shutdown: ['max_duration'],
  max_duration: [],
};

/** One step of one of those machines: the next state, or the current one when the step is not allowed. */
function step<S extends string>(next: Record<S, readonly S[]>, from: S, to: S): S {
  return next[from].includes(to) ? to : from;
}

/** States in which the callee has answered. */
const ANSWERED_STATES: readonly ControllerState[] = ['amd', 'bridging', 'talking', 'voicemail'];

/** What stopped the call; the first one wins. */
type EndTrigger =
  | { kind: 'callee_gone'; cause: number | null }
  | { kind: 'media_lost' }
  | { kind: 'canceled' }
  | { kind: 'shutdown' }
  | { kind: 'max_duration' }
  | { kind: 'error'; error: unknown }
  | { kind: 'ring_guard' }
  | { kind: 'amd_timeout' }
  /** We finished: the agent ended the conversation, or the voicemail message was left. */
  | { kind: 'done' }
  /** The originate never reached the PBX: the call went back to the queue (nobody was called). */
  | { kind: 'requeued' };

class CallEnded extends Error {
  constructor() {
    super('call ended');
    this.name = 'CallEnded';
  }
}

type AmdStatus = 'MACHINE' | 'HUMAN' | 'NOTSURE' | 'HANGUP' | 'UNKNOWN';

/**
 * One object per call. It owns the callee channel, the bridge, the externalMedia channel, the local
 * media socket and every timer of the call, moves through an explicit state machine, and tears all
 * of it down exactly once, in order, whatever ends the call.
 */
export class CallController {
  private stateValue: ControllerState = 'idle';
  private readonly log: Logger;
  private readonly ctl: CallControl;
  private readonly ari: AriClient;
  private readonly s: CallControllerSettings;

  readonly calleeChannelId = crypto.randomUUID();
  /**
   * The snoop channel that hears the callee (spy `in`) in the bridge while AMD() holds the callee in
   * the dialplan: the agent, the recording and the opening watch hear the line from answer on.
   */
  private readonly snoopChannelId = crypto.randomUUID();
  private snoop: MediaChannel = 'none';
  /** Whether the callee's own channel is in the bridge (AMD takes it out while it runs). */
  private calleeBridged = false;
  /** `performance.now()` at answer: the agent's turn times count from it. */
  private answeredAtMs = 0;
  /** The callee's side from answer on: beep, greeting shape, quiet. */
  private watch: OpeningWatch | null = null;
  /** The agent, started at answer (listening only until `allowTalk`). */
  private agentRun: Promise<void> | null = null;
  private allowTalk: (() => void) | null = null;
  private readonly mediaChannelId = crypto.randomUUID();
  private bridgeId: string | null = null;
  private media: MediaChannel = 'none';
  private prepared: PreparedMedia | null = null;
  private audio: CallAudio | null = null;
  private recordingName: string | null = null;
  private recording: Recording = 'none';

  private callee: CalleeChannel = 'not_dialed';
  /** The originate request in flight; teardown waits for it so its hangup cannot miss the channel. */
  private originating: Promise<unknown> | null = null;
  private reportedAnswered = false;
  private lastCause: number | null = null;
  /** The SIP answer behind the callee's end (`tech_cause`: 486, 404, 480…), for the log; not an outcome input. */
  private lastTechCause: number | null = null;
  private lastDialstatus: string | null = null;
  /** The PBX itself hung the callee up (it shut down or restarted): nobody declined or hung up. */
  private pbxWentAway = false;
  /** The events socket dropped after the originate: what the PBX reported meanwhile is lost. */
  private eventsLost = false;
  /** Our media path closed under the call, before anything ended it (see onMediaClosed). */
  private mediaClosed = false;
  private readonly turns: ConversationTurn[] = [];
  /** The transfer the agent asked for, if any (transfer.ts). */
  private transfer: CallTransfer | null = null;
  private voicemailOutcome: 'voicemail_detected' | 'voicemail_message_left' | null = null;
  private agentEnd: ConversationEnd | null = null;
  /** The agent reported that the callee asked not to be called again. */
  private agentOptOut = false;
  private preparation: CallPreparation | null = null;
  private closing: Closing = 'none';
  /** The call's max duration, and the grace given to the agent's goodbye once closing. */
  private maxTimer: NodeJS.Timeout | null = null;
  private closingTimer: NodeJS.Timeout | null = null;
  /** Aborted to ask the agent to say goodbye and end (the session's `wrapUp`). */
  private readonly wrapUpAbort = new AbortController();

  private trigger: EndTrigger | null = null;
  private readonly ended = new AbortController();
  /** Aborted under the agent when the call ends under it; its reason is a ConversationEnd. */
  private readonly sessionAbort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribers: (() => void)[] = [];
  /** The event subscription outlives teardown: RecordingFinished comes after the bridge is gone. */
  private eventsOff: (() => void) | null = null;
  private readonly dtmfListeners = new Set<(digit: string) => void>();
  private readonly stasisWaiters: ((args: string[]) => void)[] = [];
  /** Whether the channels we create are in the application yet (see stasis-readiness.ts). */
  private readonly stasis = new StasisEntries([this.mediaChannelId]);
  private readonly recordingWaiters: (() => void)[] = [];
  private teardownPromise: Promise<void> | null = null;

  constructor(private readonly deps: CallControllerDeps) {
    this.ctl = deps.ctl;
    // Its failed requests are logged (once, by the client) with the call's id.
    this.ari = deps.ari.withLogContext({ callId: deps.ctl.call.id });
    this.s = deps.settings;
    this.log = deps.logger.child({ callId: deps.ctl.call.id, channelId: this.calleeChannelId });
  }

  get state(): ControllerState {
    return this.stateValue;
  }

  /** Places and conducts the call; resolves after teardown, with `ctl.end` called. */
  async run(): Promise<void> {
    this.subscribe();
    try {
      if (this.ctl.signal.aborted) {
        // Aborted before anything rang: a shutdown leaves the call queued for another worker.
        this.endWith(this.ctl.signal.reason === 'shutdown' ? { kind: 'shutdown' } : { kind: 'canceled' });
      } else {
        await this.place();
      }
    } catch (err) {
      if (!(err instanceof CallEnded)) await this.endWithError(err);
    }
    await this.finish();
    // A transferred call's connected legs outlive the agent: the transfer keeps them until they end.
    await this.transfer?.hold(this.ctl.signal);
  }

  // ---------- the call's steps ----------

  private async place(): Promise<void> {
    await this.ctl.dialing();
    this.check();
    // Without the events socket the call could not be followed; nobody has been called yet.
    if (!this.ari.connected) return this.putBack('pbx_disconnected', null);
    // The agent reads its prompt while the phone rings, not after the callee said hello.
    this.preparation = this.deps.agent.prepare?.(this.ctl.call) ?? null;
    this.go('originating');
    const call = this.ctl.call;
    // StasisStart may race the originate response.
    const answeredP = this.waitForStasis();
    this.moveCallee('dialed');
    this.originating = this.ari.originate({
      endpoint: this.s.dialString.replaceAll('{to}', call.toNumber),
      app: this.s.app,
      appArgs: 'dial',
      callerId: call.callerId,
      timeout: this.s.ringTimeoutSeconds,
      channelId: this.calleeChannelId,
    });
    // TRUNK_MAX_CPS: the trunk slot frees (a second later) once the originate answered or failed.
    const originated = () => this.ctl.originated?.();
    this.originating.then(originated, originated);
    const placed = await this.guard(this.placed(this.originating));
    if (placed !== true) return this.putBack('pbx_unreachable', placed);
    if (this.stateValue === 'originating') this.go('ringing');
    const ringGuard = this.timer(
      () => this.endWith({ kind: 'ring_guard' }),
      this.s.ringTimeoutSeconds * 1000 + this.s.ringGuardMs,
    );
    await this.guard(answeredP);
    this.clearTimer(ringGuard);
    this.log.info('callee answered');
    this.answeredAtMs = performance.now();

    // The line is heard from the moment of answer (a business's greeting comes while AMD() still
    // listens): media, recording, the opening watch and the agent's ears first, the callee stood in
    // for by a snoop channel; the callee hears nothing from us until AMD gave it back.
    this.go('bridging');
    await this.connectMedia();
    const audio = this.audio as CallAudio;
    const watch = new OpeningWatch({ sampleRate: audio.sampleRate, beepWatchMs: this.s.beepWatchMs });
    this.watch = watch;
    this.unsubscribers.push(audio.onFrame((f) => watch.push(f)));
    this.startAgent(audio);
    const amd = await this.detectMachine();
    await this.joinCallee();
    if ((await this.decideOpening(amd)) === 'beep') {
      await this.stopAgent();
      await this.leaveMessageIfAsked(audio);
      return;
    }
    await this.reportAnswered();
    this.go('talking');
    await this.converse(audio);
  }

  /**
   * Whether the originate placed the call: true, or the error of one that never reached the PBX. An
   * answer (an error status included) or any event of our channel says it reached it; a request that
   * never left (refused, unreachable) says it did not; for one sent but not answered (timeout, dropped
   * connection) the PBX is asked for the channel by the id we gave it, so a call is never placed twice.
   */
  private async placed(request: Promise<unknown>): Promise<true | AriError> {
    try {
      await request;
      this.deps.pbxHealth?.reached();
      return true;
    } catch (err) {
      if (!(err instanceof AriError) || err.delivery === 'answered' || this.trigger) throw err;
      if (err.delivery === 'unknown' && (this.channelSeen() || (await this.channelExists()))) {
        this.log.warn(
          errorFields(err),
          'the originate went unanswered, but its channel exists: the call goes on',
        );
        this.deps.pbxHealth?.reached();
        return true;
      }
      this.deps.pbxHealth?.unreached();
      return err;
    }
  }

  /** Whether the PBX has our callee channel; asked a few times (it may be slow), and throws when it cannot tell. */
  private async channelExists(): Promise<boolean> {
    let last: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await this.guard(new Promise((r) => setTimeout(r, 500 * 2 ** attempt)));
      try {
        await this.guard(this.ari.getChannel(this.calleeChannelId));
        return true;
      } catch (err) {
        if (err instanceof AriError && err.status === 404) return this.channelSeen();
        if (!(err instanceof AriError)) throw err;
        last = err;
      }
    }
    // Cannot tell whether it rings: the call fails (network_error) rather than risk ringing twice.
    throw last;
  }

  /**
   * Nobody was called: the call goes back to the queue for any worker (the worker stops claiming
   * for a while meanwhile). When that is refused (e.g. canceled meanwhile), it ends as it would have.
   */
  private async putBack(reason: string, cause: AriError | null): Promise<void> {
    this.log.warn({ ...errorFields(cause), reason }, 'the call was never placed; back to the queue');
    let requeued = false;
    try {
      requeued = (await this.ctl.requeue?.(reason)) ?? false;
    } catch (err) {
      this.log.error({ err }, 'could not put the call back in the queue');
    }
    if (requeued) {
      this.moveCallee('never_placed');
      this.endWith({ kind: 'requeued' });
      this.check();
    }
    this.check();
    throw cause ?? new AriError(0, 'POST', '/channels', 'the ARI events connection is down', 'unsent');
  }

  /** Sends the answered channel through AMD() in the dialplan and reads its verdict when it comes back. */
  private async detectMachine(): Promise<AmdStatus> {
    this.go('amd');
    const back = this.waitForStasis();
    try {
      await this.guard(
        this.ari.continueInDialplan(this.calleeChannelId, {
          context: this.s.amdContext,
          extension: this.s.amdExtension,
          priority: this.s.amdPriority,
        }),
      );
    } catch (err) {
      if (!(err instanceof AriError) || this.callee === 'gone') throw err;
      // No dialplan to continue into: the audio path alone decides.
      this.log.warn(errorFields(err), 'AMD unavailable; using the audio-path detector only');
      return 'UNKNOWN';
    }
    // Leaving Stasis for the dialplan takes the channel out of its bridge.
    this.calleeBridged = false;
    const t = this.timer(() => void this.onAmdTimeout(), this.s.amdTimeoutMs);
    await this.guard(back);
    this.clearTimer(t);
    let status: AmdStatus = 'UNKNOWN';
    try {
      const v = (
        await this.guard(this.ari.getChannelVariable(this.calleeChannelId, 'AMDSTATUS'))
      ).toUpperCase();
      const cause = await this.guard(this.ari.getChannelVariable(this.calleeChannelId, 'AMDCAUSE')).catch(
        () => '',
      );
      if (v === 'MACHINE' || v === 'HUMAN' || v === 'NOTSURE' || v === 'HANGUP') status = v;
      this.log.info({ amdStatus: v, amdCause: cause }, 'answering-machine detection');
    } catch (err) {
      if (err instanceof CallEnded) throw err;
      this.log.warn(errorFields(err), 'AMDSTATUS unreadable');
    }
    return status;
  }

  private async connectMedia(): Promise<void> {
    const callId = this.ctl.call.id;
    const bridge = await this.guard(this.ari.createBridge({ type: 'mixing', name: `agentline-${callId}` }));
    this.bridgeId = bridge.id;
    this.prepared = await this.guard(this.deps.media.prepare({ callId }));
    this.media = step(MEDIA_NEXT, this.media, 'created');
    const channel = await this.guard(
      this.ari.externalMedia({
        app: this.s.app,
        channelId: this.mediaChannelId,
        ...this.prepared.externalMedia,
      }),
    );
    // Asterisk answers before the channel is in the application (its StasisStart comes from another
    // thread), and refuses to bridge it until then: wait for it, and retry that refusal briefly.
    const entered = this.stasis.wait(this.mediaChannelId, {
      what: 'the externalMedia channel',
      timeoutMs: this.s.stasisEntryTimeoutMs,
      signal: this.ended.signal,
    });
    entered.catch(() => {}); // awaited below, after the media is attached (which may fail first)
    this.audio = await this.guard(this.prepared.attach(channel));
    const offClose = this.audio.onClose?.(() => this.onMediaClosed());
    if (offClose) this.unsubscribers.push(offClose);
    await this.guard(entered);
    const ear = await this.listenIn();
    await this.guard(
      retryWhileNotInStasis(() => this.ari.addChannelToBridge(bridge.id, [ear, this.mediaChannelId]), {
        signal: this.ended.signal,
        onRetry: (_err, attempt, delayMs) =>
          this.log.info({ attempt, delayMs }, 'a channel is not in the application yet; bridging again'),
      }),
    );
    this.calleeBridged = ear === this.calleeChannelId;
    const name = `agentline-${callId}`;
    // Asterisk's `wav` is 8 kHz: 16 kHz media (slin16) is recorded as `wav16`, or half its band is lost.
    const format = this.audio.sampleRate >= 16_000 ? 'wav16' : 'wav';
    await this.recordBridge(bridge.id, name, format);
  }

  /**
   * Starts the call's recording. A recording is not worth the call: when Asterisk refuses it (a 500
   * when its recordings folder is missing) the call goes on unrecorded, with a warning and an event.
   */
  private async recordBridge(bridgeId: string, name: string, format: string): Promise<void> {
    try {
      await this.guard(this.ari.recordBridge(bridgeId, { name, format, ifExists: 'overwrite' }));
    } catch (err) {
      if (!(err instanceof AriError)) throw err;
      this.log.warn(errorFields(err), 'the PBX would not record the call; it goes on unrecorded');
      // e.g. `recording_failed: POST /bridges/…/record → 500 Internal Server Error`
      this.ctl.note?.(describeCallFailure(err).reason.replace(/^ari_request_failed:/, 'recording_failed:'));
      // Unanswered, it may have started anyway: the name lets teardown stop it and fetch what exists.
      if (err.delivery !== 'unknown') return;
    }
    this.recordingName = name;
    this.recording = step(RECORDING_NEXT, this.recording, 'recording');
    // Should this worker die, whoever ends the call (failed/worker_lost) finds the recording by this note.
    this.deps.pbxRecordings?.started?.(this.ctl.call.id, name);
  }

  /**
   * A snoop channel on the callee (spy `in`: what they say) stands in for them in the bridge until
   * AMD() gives the callee back, so the agent, the recording and the opening watch hear the line from
   * answer on, through AMD. When Asterisk refuses one, the callee is bridged itself (AMD then takes it
   * out of the bridge while it runs, and its greeting goes unheard, as before).
   */
  private async listenIn(): Promise<string> {
    this.stasis.follow(this.snoopChannelId);
    try {
      this.snoop = step(MEDIA_NEXT, this.snoop, 'created');
      await this.guard(
        this.ari.snoopChannel(this.calleeChannelId, {
          app: this.s.app,
          spy: 'in',
          appArgs: 'snoop',
          snoopId: this.snoopChannelId,
        }),
      );
      await this.guard(
        this.stasis.wait(this.snoopChannelId, {
          what: 'the snoop channel',
          timeoutMs: this.s.stasisEntryTimeoutMs,
          signal: this.ended.signal,
        }),
      );
      return this.snoopChannelId;
    } catch (err) {
      if (err instanceof CallEnded || this.callee === 'gone') throw err;
      this.log.warn(
        errorFields(err),
        'cannot listen in on the callee during AMD; bridging the callee instead',
      );
      await this.dropSnoop();
      return this.calleeChannelId;
    }
  }

  /** Hangs the snoop channel up (it is no longer needed, or never came up). */
  private async dropSnoop(): Promise<void> {
    if (this.snoop !== 'created') return;
    this.snoop = step(MEDIA_NEXT, this.snoop, 'gone');
    await this.ari.hangup(this.snoopChannelId).catch((err) => {
      if (!(err instanceof AriError && err.status === 404))
        this.log.warn(errorFields(err), 'could not hang up the snoop channel');
    });
  }

  /**
   * AMD gave the callee back to the application: the callee takes the snoop channel's place in the
   * bridge (the snoop goes first, so their voice is never mixed in twice).
   */
  private async joinCallee(): Promise<void> {
    await this.guard(this.dropSnoop());
    if (this.calleeBridged || !this.bridgeId) return;
    const bridgeId = this.bridgeId;
    await this.guard(
      retryWhileNotInStasis(() => this.ari.addChannelToBridge(bridgeId, [this.calleeChannelId]), {
        signal: this.ended.signal,
        onRetry: (_err, attempt, delayMs) =>
          this.log.info(
            { attempt, delayMs },
            'the callee is not back in the application yet; bridging again',
          ),
      }),
    );
    this.calleeBridged = true;
  }

  /**
   * AMD did not come back in time. A callee who hung up in the dialplan, whose events were lost, looks
   * the same: the PBX says which (no channel: the callee hung up after answering).
   */
  private async onAmdTimeout(): Promise<void> {
    if (this.trigger) return;
    // Only the PBX's answer tells a callee who hung up in the dialplan (its event lost) from a stuck AMD.
    if ((await this.lookupCallee()) === 'gone') {
      this.log.warn('callee channel gone during AMD without a hangup event');
      this.moveCallee('gone');
      this.endWith({ kind: 'callee_gone', cause: this.lastCause });
      return;
    }
    this.endWith({ kind: 'amd_timeout' });
  }

  /**
   * A step of the call failed. An ARI request may fail because the callee hung up just before it
   * (`addChannel` answers 400 "Channel not found"), and the hangup's events may come after that answer:
   * events and answers race (chaos mode found this). So the PBX is asked first: a callee channel that
   * no longer exists makes this the callee's hangup, not a network error.
   */
  private async endWithError(err: unknown): Promise<void> {
    if (err instanceof AriError && err.delivery === 'answered' && this.callee === 'seen' && !this.trigger) {
      if ((await this.lookupCallee()) === 'gone' && !this.trigger) {
        this.log.info(
          { failedRequest: `${err.method} ${err.path}` },
          'a request failed because the callee hung up',
        );
        this.moveCallee('gone');
        this.endWith({ kind: 'callee_gone', cause: this.lastCause });
        return;
      }
    }
    this.endWith({ kind: 'error', error: err });
  }

  /**
   * Whether the callee channel exists, by `GET /channels/{id}`; a lookup that fails (a 5xx, no answer)
   * is asked again, 250 and 500 ms later. `ended`: the call ended meanwhile (its events said why).
   */
  private async lookupCallee(): Promise<'exists' | 'gone' | 'unknown' | 'ended'> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (attempt > 0)
          await this.guard(new Promise((r) => this.timer(() => r(null), 250 * 2 ** (attempt - 1))));
        await this.guard(this.ari.getChannel(this.calleeChannelId));
        return 'exists';
      } catch (err) {
        if (err instanceof CallEnded) return 'ended';
        if (err instanceof AriError && err.status === 404) return 'gone';
        if (!(err instanceof AriError)) return 'unknown';
      }
    }
    return 'unknown';
  }

  /**
   * Whether the call is a voicemail (a beep) or the agent may speak, from what the opening watch heard
   * since answer. AMD is a heuristic, and a business's long greeting or an IVR is "a machine" too: only
   * a beep makes the call a voicemail. A voicemail beeps right after its greeting; a machine that is
   * then quiet for `greetingEndSilenceMs` without a beep waits for an answer, which the agent gives
   * (it heard the greeting). NOTSURE: the shape of the opening utterance decides, for a few seconds.
   */
  private async decideOpening(amd: AmdStatus): Promise<'beep' | 'agent'> {
    const watch = this.watch as OpeningWatch;
    const signal = this.ended.signal;
    const beep = () => (watch.beepHeardAtMs !== null ? 'beep' : null);
    let machine = amd === 'MACHINE';
    if (!machine && (amd === 'NOTSURE' || amd === 'UNKNOWN')) {
      const shape = await this.guard(
        watch.until(() => beep() ?? watch.verdict, this.s.unsureListenMs, signal),
      );
      if (shape === 'beep') return 'beep';
      machine = shape === 'machine';
    }
    if (!machine) return beep() ?? 'agent';
    const heard = await this.guard(
      watch.until(
        () => beep() ?? (watch.silenceMs >= this.s.greetingEndSilenceMs ? 'silence' : null),
        this.s.beepWaitMs,
        signal,
      ),
    );
    if (heard === 'beep') return 'beep';
    this.log.info(
      { heard, amd },
      'a machine answered but no beep came (a business greeting, an IVR?); the agent answers it',
    );
    return 'agent';
  }

  /**
   * Starts the agent at answer: it listens (and keeps the callee's turns) from now on and speaks once
   * `converse` lets it (`CallSession.mayTalk`); a voicemail stops it first (`stopAgent`).
   */
  private startAgent(audio: CallAudio): void {
    const call = this.ctl.call;
    const mayTalk = new Promise<void>((resolve) => {
      this.allowTalk = resolve;
    });
    // The frames that come while the agent starts up (loading its voice detector) are kept for it.
    const heard = withBacklog(audio, 5000);
    this.unsubscribers.push(() => heard.close());
    const session: CallSession = {
      call,
      audio: heard,
      answeredAtMs: this.answeredAtMs,
      mayTalk,
      signal: this.sessionAbort.signal,
      wrapUp: this.wrapUpAbort.signal,
      // Keys and a transfer act on the callee, who is in AMD's dialplan until the agent may talk: an
      // agent that asks earlier waits for that (and gets CallEnded if the call ends first).
      sendDtmf: async (digits) => {
        await this.guard(mayTalk);
        if (this.callee === 'gone') return;
        await this.ari.sendDtmf(this.calleeChannelId, digits);
      },
      onDtmf: (l) => {
        this.dtmfListeners.add(l);
        return () => this.dtmfListeners.delete(l);
      },
      preparation: this.preparation,
      transfer: call.transfer
        ? async (request) => {
            await this.guard(mayTalk);
            return this.transferTo(request, audio);
          }
        : undefined,
    };
    const onTurn = (turn: ConversationTurn) => {
      this.turns.push(turn);
      this.ctl.addTurn(turn).catch((err) => this.log.error({ err }, 'could not store a turn'));
    };
    this.agentRun = this.deps.agent.converse(session, onTurn).then((result) => {
      this.agentEnd = result.end;
      this.agentOptOut = result.optOut === true;
    });
    // A failure is dealt with where the run is awaited (converse, stopAgent, finish).
    this.agentRun.catch(() => {});
  }

  /** The call is a voicemail: the agent, silent so far, stops before the message is played. */
  private async stopAgent(): Promise<void> {
    if (!this.sessionAbort.signal.aborted) this.sessionAbort.abort('objective_impossible');
    await this.guard(this.agentRun?.catch(() => {}) ?? Promise.resolve());
  }

  private async converse(audio: CallAudio): Promise<void> {
    const call = this.ctl.call;
    this.maxTimer = this.timer(() => this.onMaxDuration(), call.maxDurationSeconds * 1000);
    let beepHeard = false;
    // Within `beepWatchMs` of answer (the watch's bound) a beep still makes the call a voicemail.
    const offBeep = (this.watch as OpeningWatch).onBeep(() => {
      // People do not beep: this is an answering machine that AMD took for a person.
      beepHeard = true;
      this.log.info('beep heard during the conversation; treating the call as voicemail');
      if (!this.sessionAbort.signal.aborted) this.sessionAbort.abort('objective_impossible');
    });
    this.unsubscribers.push(offBeep);
    this.allowTalk?.();
    try {
      await this.agentRun;
    } catch (err) {
      if (!this.trigger) throw err;
      this.log.debug({ err }, 'agent stopped with an error after the call ended');
    }
    // The media closed while the events socket was down: the reconnect's reconciliation (or a cancel,
    // a shutdown) ends the call; until then it waits, the agent stopped and nothing running.
    if (this.mediaClosed) await this.guard(new Promise<never>(() => {}));
    offBeep();
    if (beepHeard && !this.trigger) {
      this.clearTimer(this.maxTimer);
      await this.leaveMessageIfAsked(audio);
      return;
    }
    this.check();
  }

  /**
   * Our media path closed, and we did not close it (teardown comes after a trigger): Asterisk hung our
   * media channel up or went away (a restart or crash closes the socket, and its events may die with
   * it). The agent can no longer be heard, so it stops now. With the events socket up, the call ends
   * `media_lost` (failed/network_error, as for a media channel destroyed under us); with it down, the
   * PBX went away and the reconnect's reconciliation decides.
   */
  private onMediaClosed(): void {
    if (this.trigger || this.mediaClosed) return;
    this.mediaClosed = true;
    const eventsUp = this.ari.connected;
    this.log.warn({ eventsUp }, 'the call audio closed under the call');
    if (!this.sessionAbort.signal.aborted) this.sessionAbort.abort(sessionReason({ kind: 'media_lost' }));
    if (eventsUp) this.endWith({ kind: 'media_lost' });
  }

  /** The agent hands the call to its transfer target (transfer.ts), which owns the connected legs after. */
  private transferTo(request: TransferRequest, audio: CallAudio): Promise<TransferResult> {
    if (this.transfer || !this.bridgeId || !this.prepared || this.trigger) {
      return Promise.resolve({ outcome: 'failed', detail: 'the call cannot be transferred now' });
    }
    const prepared = this.prepared;
    this.transfer = new CallTransfer({
      ari: this.ari,
      tts: this.deps.tts,
      // `task`, not `part`: the controller's logger already has a part (calls), and a key may not repeat.
      log: this.log.child({ task: 'transfer' }),
      settings: {
        app: this.s.app,
        dialString: this.s.dialString,
        ringTimeoutSeconds: this.s.ringTimeoutSeconds,
        ringGuardMs: this.s.ringGuardMs,
        recordSeconds: this.s.transferRecordSeconds,
        maxBridgedSeconds: this.s.transferMaxSeconds,
      },
      call: this.ctl.call,
      calleeChannelId: this.calleeChannelId,
      bridgeId: this.bridgeId,
      mediaChannelId: this.mediaChannelId,
      audio,
      drain: () => prepared.drain(),
    });
    return this.transfer.run(request, this.sessionAbort.signal);
  }

  private onMaxDuration(): void {
    if (this.trigger || this.sessionAbort.signal.aborted) return;
    this.log.info('max duration reached');
    this.sessionAbort.abort('max_duration');
    // The agent may say goodbye within the grace period; then the line is hung up regardless.
    this.closing = step(CLOSING_NEXT, this.closing, 'max_duration');
    this.closingTimer = this.timer(() => this.endWith({ kind: 'max_duration' }), this.s.goodbyeGraceMs);
  }

  /**
   * The worker is shutting down (its drain is over) while the agent talks: the agent says goodbye at
   * its next turn boundary and ends; the line is hung up after the grace period regardless.
   */
  private wrapUpForShutdown(): void {
    if (this.trigger || this.sessionAbort.signal.aborted || this.closing !== 'none') return;
    this.log.info('worker shutting down; asking the agent to wrap up');
    this.closing = step(CLOSING_NEXT, this.closing, 'shutdown');
    this.wrapUpAbort.abort('shutdown');
    this.closingTimer = this.timer(() => this.endWith({ kind: 'shutdown' }), this.s.wrapUpGraceMs);
  }

  /** The beep was heard: ends as voicemail, after speaking the message when `leave_message` asks for it. */
  private async leaveMessageIfAsked(audio: CallAudio): Promise<void> {
    this.go('voicemail');
    this.voicemailOutcome = 'voicemail_detected';
    const vm = this.ctl.call.voicemail;
    if (vm.action !== 'leave_message' || !vm.message.trim()) return;
    const speech = this.deps.tts.synthesize(vm.message, {
      voice: this.ctl.call.voice ?? undefined,
      signal: this.ended.signal,
    });
    const pcm = await this.guard(speech);
    const samples =
      pcm.sampleRate === audio.sampleRate
        ? pcm.samples
        : createResampler(pcm.sampleRate, audio.sampleRate).process(pcm.samples);
    const played = await this.guard(audio.play(samples));
    this.check();
    if (played.completed) this.voicemailOutcome = 'voicemail_message_left';
    this.log.info({ playedMs: played.playedMs, completed: played.completed }, 'voicemail message played');
  }

  // ---------- events ----------

  private subscribe(): void {
    this.eventsOff = this.ari.onEvent((ev) => this.onEvent(ev));
    this.unsubscribers.push(
      this.ari.onConnectionChange((up) => {
        if (!up) this.eventsLost = true;
      }),
      this.ari.onReconciled((live) => {
        if (this.stateValue === 'idle' || this.stateValue === 'ending' || this.stateValue === 'ended') return;
        if (this.stateValue === 'originating') return; // the channel may not exist yet
        if (!live.has(this.calleeChannelId)) {
          this.log.warn('callee channel vanished while the events socket was down');
          this.moveCallee('gone');
          // Our media went in the same outage (its socket closed, or its channel is gone too, which a
          // callee's hangup never does: it stays in the bridge until we hang it up): the PBX went away
          // under the call (it restarted or crashed) and cut the callee off; nothing says they hung up.
          if (this.mediaClosed || (this.audio && this.media === 'created' && !live.has(this.mediaChannelId)))
            this.pbxWentAway = true;
          this.endWith({ kind: 'callee_gone', cause: null });
        } else if (
          this.media !== 'none' &&
          this.audio &&
          (!live.has(this.mediaChannelId) || this.mediaClosed)
        ) {
          if (!live.has(this.mediaChannelId)) this.media = step(MEDIA_NEXT, this.media, 'gone');
          this.endWith({ kind: 'media_lost' });
        }
      }),
    );
    const onAbort = () => {
      if (this.ctl.signal.reason !== 'shutdown') this.endWith({ kind: 'canceled' });
      // An agent stopped by a closed media path cannot say goodbye: the call ends at once.
      else if (this.stateValue === 'talking' && !this.mediaClosed) this.wrapUpForShutdown();
      else this.endWith({ kind: 'shutdown' });
    };
    this.ctl.signal.addEventListener('abort', onAbort, { once: true });
    this.unsubscribers.push(() => this.ctl.signal.removeEventListener('abort', onAbort));
  }

  private onEvent(ev: AriEvent): void {
    this.stasis.onEvent(ev);
    const e = ev as { channel?: { id?: string }; peer?: { id?: string } };
    if (e.channel?.id === this.calleeChannelId || e.peer?.id === this.calleeChannelId)
      this.moveCallee('seen');
    switch (ev.type) {
      case 'Dial':
        if (ev.peer?.id === this.calleeChannelId && ev.dialstatus) this.lastDialstatus = ev.dialstatus;
        return;
      case 'ChannelStateChange':
        if (
          ev.channel.id === this.calleeChannelId &&
          ev.channel.state === 'Ringing' &&
          this.stateValue === 'originating'
        ) {
          this.go('ringing');
        }
        return;
      case 'StasisStart':
        if (ev.channel.id === this.calleeChannelId) {
          for (const w of this.stasisWaiters.splice(0)) w(ev.args ?? []);
        }
        return;
      case 'ChannelHangupRequest':
        if (ev.channel.id !== this.calleeChannelId) return;
        // A soft request's cause is an AST_SOFTHANGUP reason, not a Q.850 cause (see call-outcomes.ts).
        if (isShutdownHangup(ev)) this.pbxWentAway = true;
        else if (!ev.soft) this.lastCause = moreSpecificCause(this.lastCause, ev.cause);
        if (!ev.soft && typeof ev.tech_cause === 'number') this.lastTechCause = ev.tech_cause;
        return;
      case 'ChannelDestroyed':
        if (ev.channel.id === this.calleeChannelId) {
          this.moveCallee('gone');
          // A Local channel's ChannelDestroyed says 0 even after a request carried the real cause.
          this.lastCause = moreSpecificCause(this.lastCause, ev.cause);
          // A ring timeout has no ChannelHangupRequest: its SIP answer (480) comes only here.
          if (typeof ev.tech_cause === 'number') this.lastTechCause = ev.tech_cause;
          this.endWith({ kind: 'callee_gone', cause: this.lastCause });
        } else if (ev.channel.id === this.mediaChannelId) {
          this.media = step(MEDIA_NEXT, this.media, 'gone');
          this.endWith({ kind: 'media_lost' });
        }
        return;
      case 'ChannelDtmfReceived':
        if (ev.channel.id === this.calleeChannelId) {
          for (const l of [...this.dtmfListeners]) l(ev.digit);
        }
        return;
      case 'RecordingFinished':
      case 'RecordingFailed':
        if (this.recordingName && ev.recording.name === this.recordingName) {
          this.recording = step(RECORDING_NEXT, this.recording, 'finished');
          for (const w of this.recordingWaiters.splice(0)) w();
        }
        return;
      default:
        return;
    }
  }

  private waitForStasis(): Promise<string[]> {
    return new Promise((resolve) => this.stasisWaiters.push(resolve));
  }

  // ---------- ending ----------

  private endWith(trigger: EndTrigger): void {
    if (this.trigger) return;
    this.trigger = trigger;
    // The line goes down now: the call's end time, whatever post-call work (summary) follows.
    this.ctl.lineDown?.(new Date());
    this.log.debug({ trigger: trigger.kind, state: this.stateValue }, 'call ending');
    if (trigger.kind === 'error') this.recordFailure(trigger.error);
    if (!this.sessionAbort.signal.aborted) this.sessionAbort.abort(sessionReason(trigger));
    this.ended.abort(trigger.kind);
  }

  /** Why the call fails goes into its events, and into the log unless the ARI client logged it already. */
  private recordFailure(err: unknown): void {
    const failure = describeCallFailure(err);
    if (!failure.logged) this.log[failure.level]({ err, reason: failure.reason }, 'call failed');
    this.ctl.note?.(failure.reason);
  }

  private async finish(): Promise<void> {
    await this.playOut();
    // No trigger: the agent finished (or the voicemail message was left), and we hang up.
    this.endWith({ kind: 'done' });
    // An agent started at answer may still be winding down (the call ended before it spoke): its
    // session is aborted now, and the callee's last words it transcribes still belong to the call.
    await this.agentRun?.catch(() => {});
    this.preparation?.close();
    const stateAtEnd = this.stateValue;
    this.go('ending');
    await this.teardown();
    const recordingFile = await this.saveRecording();
    this.eventsOff?.();
    this.eventsOff = null;
    const outcome = await this.outcome(stateAtEnd);
    if (outcome) {
      // The callee's request stands however the call ended: the store lists the number (do-not-call).
      if (this.agentOptOut) outcome.optOut = true;
      if (outcome.status === 'completed' || (outcome.status === 'failed' && this.reportedAnswered)) {
        await this.summarize(outcome);
      }
      if (recordingFile && this.ctl.signal.reason !== 'canceled') outcome.recordingFile = recordingFile;
      try {
        await this.ctl.end(outcome);
      } catch (err) {
        this.log.error({ err }, 'could not store the end of the call');
      }
      this.log.info(
        {
          status: outcome.status,
          endedReason: outcome.endedReason,
          // What the PBX said of the callee's end: the Q.850 cause and, over SIP, the SIP answer.
          ...(this.lastCause !== null ? { cause: this.lastCause } : {}),
          ...(this.lastTechCause !== null ? { techCause: this.lastTechCause } : {}),
        },
        'call ended',
      );
    }
    this.go('ended');
  }

  /**
   * We end the call ourselves (the agent finished, its goodbye included, or the voicemail message was
   * left), but the agent's audio was only handed to the PBX, which queues and paces it: the line stays
   * up until the media path reports all of it played, within the bound the media sets (the queued
   * audio's duration plus a margin), and not a moment once the callee or the media is gone.
   */
  private async playOut(): Promise<void> {
    if (this.trigger || !this.prepared || !this.audio) return;
    // The agent is done: nothing is left for max duration or a goodbye's grace to cut short, and
    // firing now they would cut its last words off; the wait below has its own bound.
    this.clearTimer(this.maxTimer);
    this.clearTimer(this.closingTimer);
    try {
      const result = await this.guard(this.prepared.drain());
      if (result === 'timeout') this.log.warn('the PBX did not confirm the end of our audio; hanging up');
      else this.log.debug({ result }, "the agent's audio was played out");
    } catch (err) {
      if (!(err instanceof CallEnded)) this.log.warn({ err }, "waiting for the agent's audio failed");
    }
  }

  private async outcome(stateAtEnd: ControllerState): Promise<CallOutcome | null> {
    const t = this.trigger as EndTrigger;
    if (t.kind === 'requeued') return null;
    if (t.kind === 'canceled') return { status: 'failed', endedReason: 'canceled' };
    if (this.transfer?.connected) return { status: 'completed', endedReason: 'transferred' };
    if (this.closing === 'shutdown' && (t.kind === 'shutdown' || t.kind === 'done')) {
      // The agent said goodbye (or had its grace period to): ended politely, as at max duration.
      await this.reportAnswered();
      return { status: 'completed', endedReason: 'worker_shutdown' };
    }
    if (t.kind === 'shutdown') {
      // Never dialed: the worker puts it back in the queue.
      if (stateAtEnd === 'idle' && this.ctl.call.status === 'queued') return null;
      return { status: 'failed', endedReason: 'worker_shutdown' };
    }
    if (this.voicemailOutcome) return { status: 'voicemail', endedReason: this.voicemailOutcome };
    if (!ANSWERED_STATES.includes(stateAtEnd)) {
      if (t.kind === 'callee_gone') {
        return classifyUnanswered({
          cause: this.lastCause,
          dialstatus: this.lastDialstatus,
          pbxWentAway: this.pbxWentAway,
        });
      }
      if (t.kind === 'ring_guard') {
        // The ringing's end was never reported: a PBX that was unreachable meanwhile (it went away or
        // restarted) lost the call; one that stayed connected just never ended the ringing.
        return this.eventsLost
          ? { status: 'failed', endedReason: 'network_error' }
          : { status: 'no_answer', endedReason: 'no_answer_timeout' };
      }
      return { status: 'failed', endedReason: errorReason(t) };
    }
    if (this.closing === 'max_duration') {
      await this.reportAnswered();
      return { status: 'completed', endedReason: 'max_duration' };
    }
    if (t.kind === 'callee_gone') {
      // The PBX shut down under the call: it was cut, the callee did not hang up.
      if (this.pbxWentAway) return { status: 'failed', endedReason: 'network_error' };
      if (this.lastCause !== null && !isNormalClearing(this.lastCause) && stateAtEnd !== 'talking') {
        return { status: 'failed', endedReason: 'network_error' };
      }
      // Answered and then hung up (before or after the agent spoke): a completed call.
      await this.reportAnswered();
      return { status: 'completed', endedReason: 'callee_hung_up' };
    }
    if (t.kind === 'done') {
      const end = this.agentEnd ?? 'objective_met';
      if (end === 'internal_error') return { status: 'failed', endedReason: 'internal_error' };
      if (end === 'canceled') return { status: 'failed', endedReason: 'canceled' };
      await this.reportAnswered();
      return { status: 'completed', endedReason: end };
    }
    if (t.kind === 'media_lost') return { status: 'failed', endedReason: 'network_error' };
    return { status: 'failed', endedReason: errorReason(t) };
  }

  /** Bounded in time and tokens: the line is down, and the call must not look live for long. */
  private async summarize(outcome: CallOutcome): Promise<void> {
    if (this.ctl.signal.reason === 'canceled') return;
    const { summary, extracted } = await summarizeWithin({
      agent: this.deps.agent,
      call: this.ctl.call,
      turns: this.turns,
      endedReason: outcome.endedReason,
      bounds: { timeoutMs: this.s.summaryTimeoutMs, maxTokens: this.s.summaryMaxTokens },
      logger: this.log,
    });
    outcome.summary = summary;
    outcome.extracted = extracted;
  }

  private async reportAnswered(): Promise<void> {
    if (this.reportedAnswered) return;
    this.reportedAnswered = true;
    await this.ctl.answered();
  }

  /** Runs once: media, then the channel we created, then the bridge, then the callee's channel. */
  private teardown(): Promise<void> {
    if (!this.teardownPromise) this.teardownPromise = this.doTeardown();
    return this.teardownPromise;
  }

  private async doTeardown(): Promise<void> {
    for (const off of this.unsubscribers.splice(0)) off();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.dtmfListeners.clear();
    const quiet = (what: string) => (err: unknown) => {
      // 404: already gone, which is what we wanted.
      if (err instanceof AriError && err.status === 404) return;
      this.log.warn(errorFields(err), `teardown: ${what} failed`);
    };
    this.audio?.flush();
    await this.prepared?.close().catch(quiet('closing media'));
    if (this.snoop === 'created') {
      this.snoop = 'gone';
      await this.ari.hangup(this.snoopChannelId).catch(quiet('hanging up the snoop channel'));
    }
    if (this.media === 'created') {
      await this.ari.hangup(this.mediaChannelId).catch(quiet('hanging up the media channel'));
    }
    // Transferred: the recording keeps the start of the connected call; the transfer owns its legs
    // and the bridge from here on. Not transferred: whatever a transfer in progress holds goes now.
    const handedOver = this.transfer?.bridged === true;
    if (handedOver) await this.transfer?.recordWindow(this.ctl.signal);
    else await this.transfer?.close();
    if (this.recordingName && this.recording === 'recording') {
      await this.stopRecording(this.recordingName).catch(quiet('stopping the recording'));
    }
    if (this.bridgeId && !handedOver)
      await this.ari.destroyBridge(this.bridgeId).catch(quiet('destroying the bridge'));
    // A hangup sent before the channel exists would miss it and leave it ringing.
    await this.originating?.catch(() => {});
    // Once the originate is sent, a channel may exist (a racing cancel must still hang it up), unless
    // it is gone already or the originate never reached the PBX.
    if (!handedOver && (this.callee === 'dialed' || this.callee === 'seen')) {
      await this.ari.hangup(this.calleeChannelId, 'normal').catch(quiet('hanging up the callee'));
    }
  }

  /**
   * Stops the live recording; a 5xx or a lost answer is tried again, 200 and 400 ms later. The bridge's
   * destruction would stop it too, but a transferred call's bridge lives on, and its recording with it:
   * the call's file would never be complete (chaos mode found this).
   */
  private async stopRecording(name: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ari.stopLiveRecording(name);
        return;
      } catch (err) {
        const transient = err instanceof AriError && (err.status >= 500 || err.status === 0);
        if (!transient || attempt >= 2) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  /** Fetches the mixed recording, stores it as `<callId>.wav`, and deletes it from the PBX. */
  private async saveRecording(): Promise<string | null> {
    const name = this.recordingName;
    if (!name) return null;
    if (this.recording !== 'finished') {
      // The file is complete once Asterisk reports the recording finished; a lost event costs 3 s, not the file.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        this.recordingWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    try {
      const wav = await this.ari.getStoredRecordingFile(name);
      const file = `${this.ctl.call.id}.wav`;
      if (this.ctl.signal.reason !== 'canceled') {
        await fs.mkdir(this.s.recordingsDir, { recursive: true });
        await fs.writeFile(path.join(this.s.recordingsDir, file), wav);
      }
      const deleted = await this.ari.deleteStoredRecording(name).then(
        () => true,
        (err) => {
          this.log.warn(errorFields(err), 'could not delete the recording on the PBX');
          // Left there, it would stay forever: deleted after the reconnect (fetched again, the same file).
          if (pbxUnreachable(err)) this.deps.pbxRecordings?.remember(this.ctl.call.id, name);
          // Gone already: nothing is left to recover. Any other refusal keeps the note, for the next pass.
          return err instanceof AriError && err.status === 404;
        },
      );
      if (deleted) this.deps.pbxRecordings?.settled?.(this.ctl.call.id, name);
      return this.ctl.signal.reason === 'canceled' ? null : file;
    } catch (err) {
      this.log.warn(errorFields(err), 'could not fetch the recording');
      // Asterisk is down or restarting (it cut the call): the file is still in its recordings folder.
      if (pbxUnreachable(err)) this.deps.pbxRecordings?.remember(this.ctl.call.id, name);
      // Never made (the record request was refused after all): nothing is on the PBX to recover.
      else if (err instanceof AriError && err.status === 404)
        this.deps.pbxRecordings?.settled?.(this.ctl.call.id, name);
      return null;
    }
  }

  // ---------- plumbing ----------

  private moveCallee(to: CalleeChannel): void {
    this.callee = step(CALLEE_NEXT, this.callee, to);
  }

  /** Whether an event named our callee channel: then the originate reached the PBX. */
  private channelSeen(): boolean {
    return this.callee === 'seen' || this.callee === 'gone';
  }

  private go(next: ControllerState): void {
    if (this.stateValue === next) return;
    if (!NEXT[this.stateValue].includes(next)) {
      throw new Error(`call controller: illegal step ${this.stateValue} → ${next}`);
    }
    this.log.debug({ from: this.stateValue, to: next }, 'controller state');
    this.stateValue = next;
  }

  /** Throws CallEnded once something ended the call, so the steps stop where they are. */
  private check(): void {
    if (this.trigger) throw new CallEnded();
  }

  /** Waits for `p` unless the call ends first. */
  private guard<T>(p: Promise<T>): Promise<T> {
    this.check();
    const signal = this.ended.signal;
    return new Promise<T>((resolve, reject) => {
      const onEnd = () => reject(new CallEnded());
      signal.addEventListener('abort', onEnd, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onEnd);
          if (signal.aborted) reject(new CallEnded());
          else resolve(v);
        },
        (err) => {
          signal.removeEventListener('abort', onEnd);
          reject(signal.aborted ? new CallEnded() : err);
        },
      );
    });
  }

  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: NodeJS.Timeout | null): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }
}

/** An ARI request that got no answer, or a 5xx: the PBX is down or restarting, not done with the resource. */
function pbxUnreachable(err: unknown): boolean {
  return err instanceof AriError && (err.status === 0 || err.status >= 500);
}

/** The cause that says more: a specific one is not overwritten by a later generic one (0, 16). */
function moreSpecificCause(prev: number | null, next: number | null | undefined): number | null {
  if (typeof next !== 'number') return prev;
  return isSpecificCause(prev) && !isSpecificCause(next) ? prev : next;
}

function sessionReason(t: EndTrigger): ConversationEnd {
  switch (t.kind) {
    case 'callee_gone':
      return 'callee_hung_up';
    case 'canceled':
      return 'canceled';
    case 'max_duration':
      return 'max_duration';
    default:
      return 'internal_error';
  }
}

function errorReason(t: EndTrigger): string {
  if (t.kind === 'error') {
    return t.error instanceof AriError || t.error instanceof StasisEntryTimeout
      ? 'network_error'
      : 'internal_error';
  }
  if (t.kind === 'amd_timeout' || t.kind === 'media_lost') return 'network_error';
  return 'internal_error';
}
