import crypto from 'node:crypto';
import { createResampler } from '../../audio/resample.js';
import type { CallRow } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import type { TextToSpeech } from '../../voice/types.js';
import type { CallAudio, TransferRequest, TransferResult } from '../call-session.js';
import { classifyUnanswered } from './call-outcomes.js';
import { type AriClient, AriError } from './client.js';
import type { AriEvent } from './types.js';

export interface TransferSettings {
  app: string;
  /** The call's dial string (`PJSIP/{to}@trunk`): a number target is dialled the same way. */
  dialString: string;
  /** Ring time of the second leg before it counts as unanswered. */
  ringTimeoutSeconds: number;
  /** Guard for a PBX that never reports the end of the second leg's ringing (ring timeout + this). */
  ringGuardMs: number;
  /** How much of the connected call (callee and person) the recording keeps. */
  recordSeconds: number;
  /** The longest the connected legs are kept up; past it both are hung up. */
  maxBridgedSeconds: number;
}

export interface TransferDeps {
  ari: AriClient;
  tts: TextToSpeech;
  log: Logger;
  settings: TransferSettings;
  call: CallRow;
  calleeChannelId: string;
  /** The call's mixing bridge, holding the callee and the agent's media channel (and the recording). */
  bridgeId: string;
  mediaChannelId: string;
  /** The agent's audio on the media channel. */
  audio: CallAudio;
  /** Resolves once the agent's queued audio has been played out by the PBX (bounded by the media). */
  drain(): Promise<unknown>;
}

/**
 * Where a transfer is: `dialing` the person, `briefing` them (warm), `bridged` once the callee and
 * the person are connected and the agent left, `failed` when the person did not take the call, and
 * `ended` once the connected legs are gone and everything the transfer owns is cleaned up.
 */
export type TransferState = 'idle' | 'dialing' | 'briefing' | 'bridged' | 'failed' | 'ended';

const NEXT: Record<TransferState, readonly TransferState[]> = {
  idle: ['dialing', 'failed', 'ended'],
  dialing: ['briefing', 'bridged', 'failed', 'ended'],
  briefing: ['bridged', 'failed', 'ended'],
  bridged: ['ended'],
  failed: ['ended'],
  ended: [],
};

class Stopped extends Error {
  constructor(readonly why: string) {
    super(`transfer stopped: ${why}`);
    this.name = 'Stopped';
  }
}

/**
 * How a SIP URI target is dialled: through the endpoint of the call's own dial string, as
 * `PJSIP/<endpoint>/<uri>` (Asterisk's form for "this endpoint's settings, this request URI"). Only a
 * `PJSIP/{to}@<endpoint>` dial string names one; any other gives null.
 */
export function dialStringFor(target: string, dialString: string): string | null {
  if (!/^sips?:/.test(target)) return dialString.replaceAll('{to}', target);
  const m = /^PJSIP\/\{to\}@([^/\s{}]+)$/.exec(dialString);
  return m ? `PJSIP/${m[1]}/${target}` : null;
}

/** What the person taking over hears first on a warm transfer. */
export function briefText(summary: string): string {
  const s = summary.trim();
  return `Hello, this is an automated assistant with a call for you. ${s ? `${/[.!?]$/.test(s) ? s : `${s}.`} ` : ''}I'm connecting you now.`;
}

/**
 * Hands one answered call to its transfer target, and afterwards holds the two connected legs.
 *
 * The second leg is originated into our application through the call's dial string with the call's
 * caller ID. Once it answers (its StasisStart: only then may it join a bridge):
 * - cold: it joins the call's bridge and the agent's media channel leaves it;
 * - warm: the agent's media channel and the person go to a consult bridge of their own, where the
 *   person hears the brief while the callee waits in the call's bridge (silence); then the consult
 *   bridge is destroyed and the person joins the callee.
 * A person who does not take the call (busy, no answer, rejected, an error) is hung up and the agent's
 * media stays with (or goes back to) the callee. The call's owner stops a transfer in progress through
 * `signal` (the callee hung up, the call is ending) and must call `close()` in its teardown.
 *
 * Once bridged, the transfer owns the call's bridge and both legs: `recordWindow()` tells when the
 * recording may stop, `hold()` keeps the legs until one hangs up (then the other is hung up and the
 * bridge destroyed), the limit passes, or the owner's `stop` signal says so.
 */
export class CallTransfer {
  private stateValue: TransferState = 'idle';
  readonly secondLegId = crypto.randomUUID();
  private consultBridgeId: string | null = null;
  /** The second leg exists on the PBX (from the originate on, until its ChannelDestroyed). */
  private secondLegLive = false;
  private secondAnswered = false;
  private calleeGone = false;
  private lastCause: number | null = null;
  private lastDialstatus: string | null = null;
  private bridgedAt = 0;
  /** The originate of the second leg; a hangup must not overtake it (it would miss the channel). */
  private originating: Promise<unknown> | null = null;
  /** The agent's media channel is out of the call's bridge (warm: in the consult bridge). */
  private mediaMoved = false;
  private everBridged = false;
  private readonly waiters = new Set<() => void>();
  private readonly offs: (() => void)[] = [];
  private closed: Promise<void> | null = null;

  constructor(private readonly deps: TransferDeps) {
    this.offs.push(deps.ari.onEvent((ev) => this.onEvent(ev)));
    this.offs.push(
      deps.ari.onReconciled((live) => {
        // Events lost while the socket was down: a leg that is gone now ends what waits on it.
        if (this.secondLegLive && !live.has(this.secondLegId)) this.secondLegGone(null);
        if (!live.has(deps.calleeChannelId)) this.calleeGone = true;
        this.wake();
      }),
    );
  }

  get state(): TransferState {
    return this.stateValue;
  }

  /** The callee and the person are connected (the agent left): the transfer owns the call's bridge now. */
  get bridged(): boolean {
    return this.stateValue === 'bridged';
  }

  /** The callee was connected to the person at some point: the call ended as transferred. */
  get connected(): boolean {
    return this.everBridged;
  }

  /** Dials the target, briefs them (warm) and connects the callee; `signal` stops it (then it fails). */
  async run(request: TransferRequest, signal: AbortSignal): Promise<TransferResult> {
    const target = this.deps.call.transfer;
    const log = this.deps.log;
    if (!target) return { outcome: 'failed', detail: 'the call has no transfer target' };
    if (this.stateValue !== 'idle') return { outcome: 'failed', detail: 'a transfer was already tried' };
    const endpoint = dialStringFor(target.to, this.deps.settings.dialString);
    if (!endpoint) {
      this.go('failed');
      log.warn(
        { dialString: this.deps.settings.dialString },
        'transfer: a SIP target needs a PJSIP/{to}@<endpoint> dial string',
      );
      return { outcome: 'failed', detail: 'no endpoint to dial a SIP URI through' };
    }
    this.go('dialing');
    log.info({ mode: target.mode }, 'transfer: dialling the person');
    try {
      await this.dial(endpoint, signal);
      if (target.mode === 'warm') await this.brief(request.summary, signal);
      await this.connect(signal);
      this.bridgedAt = performance.now();
      this.everBridged = true;
      this.go('bridged');
      log.info({ mode: target.mode }, 'transfer: the callee is connected to the person; the agent leaves');
      return { outcome: 'transferred' };
    } catch (err) {
      const result = this.failure(err);
      if (!(err instanceof Stopped))
        log.warn({ err, outcome: result.outcome }, 'transfer: the person did not take the call');
      await this.undo();
      this.go('failed');
      return result;
    }
  }

  /**
   * Resolves when the recording of the connected call may stop: `recordSeconds` after the callee was
   * connected, once either leg is gone, or when `stop` aborts.
   */
  recordWindow(stop: AbortSignal): Promise<void> {
    const ms = this.deps.settings.recordSeconds * 1000 - (performance.now() - this.bridgedAt);
    return this.waitFor(() => !this.secondLegLive || this.calleeGone, ms, stop);
  }

  /**
   * Keeps the connected legs until either hangs up (the other is then hung up), `maxBridgedSeconds`
   * pass, or `stop` aborts (a cancel or a worker shutdown); then hangs up what is left and destroys
   * the call's bridge. Resolves once all of it is gone.
   */
  async hold(stop: AbortSignal): Promise<void> {
    if (this.stateValue !== 'bridged') return this.close();
    const ms = this.deps.settings.maxBridgedSeconds * 1000 - (performance.now() - this.bridgedAt);
    await this.waitFor(() => !this.secondLegLive || this.calleeGone, ms, stop);
    const why = stop.aborted
      ? `stopped (${String(stop.reason)})`
      : !this.secondLegLive || this.calleeGone
        ? 'a party hung up'
        : 'the connected-call limit passed';
    this.deps.log.info({ why }, 'transfer: the connected call is over; hanging up what is left');
    await this.close();
  }

  /**
   * Hangs up and destroys whatever the transfer owns (once): before the callee is connected the second
   * leg and the consult bridge; once bridged also the callee's leg and the call's bridge.
   */
  close(): Promise<void> {
    if (!this.closed) this.closed = this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    const { ari } = this.deps;
    const bridged = this.stateValue === 'bridged';
    if (this.consultBridgeId)
      await ari.destroyBridge(this.consultBridgeId).catch(this.quiet('destroying the consult bridge'));
    this.consultBridgeId = null;
    await this.originating?.catch(() => {});
    if (this.secondLegLive)
      await ari.hangup(this.secondLegId, 'normal').catch(this.quiet('hanging up the second leg'));
    if (bridged) {
      if (!this.calleeGone)
        await ari.hangup(this.deps.calleeChannelId, 'normal').catch(this.quiet('hanging up the callee'));
      await ari.destroyBridge(this.deps.bridgeId).catch(this.quiet('destroying the bridge'));
    }
    this.go('ended');
    for (const off of this.offs.splice(0)) off();
    this.wake();
  }

  // ---------- the steps ----------

  private async dial(endpoint: string, signal: AbortSignal): Promise<void> {
    const { ari, settings, call } = this.deps;
    // From the originate on the leg may exist; its events may come before the originate's answer.
    this.secondLegLive = true;
    const answered = this.waitFor(
      () => this.secondAnswered || !this.secondLegLive || this.calleeGone,
      Number.POSITIVE_INFINITY,
      signal,
    );
    this.originating = ari.originate({
      endpoint,
      app: settings.app,
      appArgs: 'transfer',
      callerId: call.callerId,
      timeout: settings.ringTimeoutSeconds,
      channelId: this.secondLegId,
    });
    try {
      await this.guard(this.originating, signal);
    } catch (err) {
      // Refused or never sent: there is no second leg. Sent but unanswered (a timeout) it may exist,
      // and an abort may come before the answer: undo() waits for the request and hangs it up.
      if (err instanceof AriError && err.delivery !== 'unknown') this.secondLegLive = false;
      throw err;
    }
    const guardMs = settings.ringTimeoutSeconds * 1000 + settings.ringGuardMs;
    const timer = setTimeout(() => this.onRingGuard(), guardMs);
    try {
      await answered;
    } finally {
      clearTimeout(timer);
    }
    if (signal.aborted) throw new Stopped(String(signal.reason ?? 'stopped'));
    if (this.calleeGone) throw new Stopped('the callee hung up');
    if (!this.secondAnswered) throw new Stopped('unanswered');
  }

  private ringGuardFired = false;

  private onRingGuard(): void {
    if (this.secondAnswered || !this.secondLegLive) return;
    this.deps.log.warn("transfer: the PBX never ended the second leg's ringing; giving up on it");
    this.ringGuardFired = true;
    this.secondLegGone(19);
  }

  /** Warm: the person hears the brief from the agent in a bridge of their own while the callee waits. */
  private async brief(summary: string, signal: AbortSignal): Promise<void> {
    const { ari, audio, tts, call } = this.deps;
    this.go('briefing');
    const consult = await this.guard(
      ari.createBridge({ type: 'mixing', name: `agentline-transfer-${call.id}` }),
      signal,
    );
    this.consultBridgeId = consult.id;
    await this.guard(ari.removeChannelFromBridge(this.deps.bridgeId, [this.deps.mediaChannelId]), signal);
    this.mediaMoved = true;
    await this.guard(
      ari.addChannelToBridge(consult.id, [this.deps.mediaChannelId, this.secondLegId]),
      signal,
    );
    const pcm = await this.guard(
      tts.synthesize(briefText(summary), { voice: call.voice ?? undefined, signal }),
      signal,
    );
    const samples =
      pcm.sampleRate === audio.sampleRate
        ? pcm.samples
        : createResampler(pcm.sampleRate, audio.sampleRate).process(pcm.samples);
    await this.guard(audio.play(samples), signal);
    await this.guard(this.deps.drain(), signal);
    this.check();
    // The consult bridge goes; the person joins the callee in connect().
    await this.guard(ari.destroyBridge(consult.id), signal);
    this.consultBridgeId = null;
  }

  /** The person joins the callee's bridge and the agent's media channel leaves it. */
  private async connect(signal: AbortSignal): Promise<void> {
    const { ari } = this.deps;
    await this.guard(ari.addChannelToBridge(this.deps.bridgeId, [this.secondLegId]), signal);
    // Warm: the media channel is in no bridge any more (its consult bridge is gone).
    if (!this.mediaMoved) {
      await this.guard(ari.removeChannelFromBridge(this.deps.bridgeId, [this.deps.mediaChannelId]), signal);
      this.mediaMoved = true;
    }
    this.check();
  }

  /**
   * The person did not take the call: hang up the second leg, drop the consult bridge, and put the
   * agent's media back with the callee (warm) so the agent can tell them.
   */
  private async undo(): Promise<void> {
    const { ari } = this.deps;
    if (this.consultBridgeId) {
      await ari.destroyBridge(this.consultBridgeId).catch(this.quiet('destroying the consult bridge'));
      this.consultBridgeId = null;
    }
    await this.originating?.catch(() => {});
    if (this.secondLegLive)
      await ari.hangup(this.secondLegId, 'normal').catch(this.quiet('hanging up the second leg'));
    if (this.mediaMoved && !this.calleeGone) {
      await ari
        .addChannelToBridge(this.deps.bridgeId, [this.deps.mediaChannelId])
        .catch(this.quiet('putting the agent back with the callee'));
      this.mediaMoved = false;
    }
  }

  private failure(
    err: unknown,
  ): TransferResult & { outcome: Exclude<TransferResult['outcome'], 'transferred'> } {
    if (err instanceof Stopped && err.why === 'unanswered') {
      if (this.ringGuardFired) return { outcome: 'no_answer' };
      const o = classifyUnanswered({ cause: this.lastCause, dialstatus: this.lastDialstatus });
      if (o.endedReason === 'busy') return { outcome: 'busy' };
      if (o.endedReason === 'rejected') return { outcome: 'rejected' };
      if (o.endedReason === 'no_answer_timeout') return { outcome: 'no_answer' };
      return { outcome: 'failed', detail: o.endedReason };
    }
    if (err instanceof Stopped) return { outcome: 'failed', detail: err.why };
    return { outcome: 'failed', detail: err instanceof Error ? err.message : String(err) };
  }

  // ---------- events ----------

  private onEvent(ev: AriEvent): void {
    const e = ev as { channel?: { id?: string }; peer?: { id?: string } };
    const id = e.channel?.id ?? e.peer?.id;
    if (id === this.deps.calleeChannelId && ev.type === 'ChannelDestroyed') {
      this.calleeGone = true;
      this.wake();
      return;
    }
    if (id !== this.secondLegId) return;
    switch (ev.type) {
      case 'Dial':
        if (ev.dialstatus) this.lastDialstatus = ev.dialstatus;
        return;
      case 'StasisStart':
        this.secondAnswered = true;
        this.wake();
        return;
      case 'ChannelHangupRequest':
        if (typeof ev.cause === 'number') this.lastCause = ev.cause;
        return;
      case 'ChannelDestroyed':
        this.secondLegGone(ev.cause ?? null);
        return;
      default:
        return;
    }
  }

  private secondLegGone(cause: number | null): void {
    if (!this.secondLegLive) return;
    this.secondLegLive = false;
    // A specific cause of the destroy wins over a generic one of the hangup request.
    if (cause !== null && (this.lastCause === null || cause !== 0)) this.lastCause = cause;
    this.wake();
  }

  // ---------- plumbing ----------

  private go(next: TransferState): void {
    if (this.stateValue === next || !NEXT[this.stateValue].includes(next)) return;
    this.deps.log.debug({ from: this.stateValue, to: next }, 'transfer state');
    this.stateValue = next;
  }

  /** Throws when a leg went away under a step (the callee hung up, the person hung up). */
  private check(): void {
    if (this.calleeGone) throw new Stopped('the callee hung up');
    if (!this.secondLegLive) throw new Stopped(this.secondAnswered ? 'the person hung up' : 'unanswered');
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `done()` holds, `ms` pass or `signal` aborts; never rejects. */
  private waitFor(done: () => boolean, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(check);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const check = () => {
        if (done() || this.stateValue === 'ended') finish();
      };
      if (signal.aborted || done()) return resolve();
      if (Number.isFinite(ms)) timer = setTimeout(finish, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.waiters.add(check);
      signal.addEventListener('abort', finish, { once: true });
    });
  }

  /** Waits for `p` unless `signal` aborts or a leg goes away first. */
  private guard<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(new Stopped(String(signal.reason ?? 'stopped')));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        cleanup();
        reject(new Stopped(String(signal.reason ?? 'stopped')));
      };
      const onLeg = () => {
        if (this.calleeGone || (this.stateValue !== 'dialing' && !this.secondLegLive)) {
          cleanup();
          try {
            this.check();
          } catch (err) {
            reject(err);
          }
        }
      };
      const cleanup = () => {
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(onLeg);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(onLeg);
      p.then(
        (v) => {
          cleanup();
          resolve(v);
        },
        (err) => {
          cleanup();
          reject(err);
        },
      );
    });
  }

  private quiet(what: string) {
    return (err: unknown) => {
      // 404: already gone, which is what we wanted.
      if (err instanceof AriError && err.status === 404) return;
      this.deps.log.warn({ err }, `transfer: ${what} failed`);
    };
  }
}
