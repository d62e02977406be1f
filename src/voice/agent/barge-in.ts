import type { Logger } from '../../logger.js';
import { isBackchannel } from './backchannel.js';

export interface BargeInOptions {
  /** Callee speech over the agent for this long may interrupt it (ms)... */
  bargeInMs: number;
  /** ...once it has lasted this long from its onset (pauses included), unless it reads as a backchannel (ms). */
  backchannelMaxMs: number;
  /** Speech over the agent this long interrupts whatever the partial says (ms). */
  forceBargeInMs: number;
  /** Consecutive voiced VAD time over the agent that pauses its audio at once (ms). */
  pauseOnsetMs: number;
  /** A single VAD window at least this sure of speech pauses the agent at once. */
  pauseProbability: number;
  /** Quiet after a pausing sound that resumes the agent, unless the sound was confirmed as a barge-in (ms). */
  resumeAfterSilenceMs: number;
  /** A window this loud (RMS) and `energyOverFloor` times the background pauses the agent before the VAD is sure. */
  energyOnsetRms: number;
  energyOverFloor: number;
}

/** The part of an agent turn barge-in acts on (AgentTurn has it). */
export interface Interruptible {
  readonly interruptible: boolean;
  readonly bargedIn: boolean;
  readonly paused: boolean;
  readonly done: boolean;
  pause(): void;
  resume(): void;
  interrupt(reason?: string): void;
}

export interface BargeInDeps {
  options: BargeInOptions;
  /** The agent turn on the line, if any. */
  active(): Interruptible | null;
  /** The recogniser's partial of the callee utterance in progress. */
  partial(): string;
  /** Whether the listener is inside a callee utterance. */
  inSpeech(): boolean;
  log: Logger;
}

export interface BargeInWatcher {
  onSpeechStart(): void;
  /** Stage two, in speech time: the callee takes the floor (see `interrupt`). */
  onSpeechProgress(p: { voicedMs: number; spanMs: number; voicedNow: boolean }): void;
  /** Stage one, in audio time: a short voiced run pauses the agent, a quiet spell resumes it. */
  onWindow(w: { prob: number; voiced: boolean; windowMs: number; rms: number }): void;
}

/**
 * Barge-in in two stages, driven by the listener's VAD windows (audio time, no clock of its own): a
 * sound over the agent pauses its audio at once; speech that goes on past a backchannel, or that
 * reads as more than one, interrupts the turn; a sound that stops short resumes it.
 */
export function createBargeInWatcher(deps: BargeInDeps): BargeInWatcher {
  const o = deps.options;
  const { log } = deps;
  let voicedRunMs = 0;
  // Voiced time of the callee utterance in progress (0 outside one).
  let utteranceVoicedMs = 0;
  let quietRunMs = 0;
  // The line's background level (noise, echo), followed while nobody speaks, for the energy onset.
  let floorRms = 50;

  return {
    onSpeechStart() {
      utteranceVoicedMs = 0;
    },
    onSpeechProgress({ voicedMs, spanMs, voicedNow }) {
      utteranceVoicedMs = voicedMs;
      const t = deps.active();
      if (!t?.interruptible || t.bargedIn || !voicedNow || voicedMs < o.bargeInMs) return;
      const partial = deps.partial();
      const backchannel = isBackchannel(partial);
      // A backchannel is short and stands alone; speech still going on past that span (pauses included)
      // is someone taking the floor, unless the recogniser already reads it as a backchannel.
      const interrupt =
        voicedMs >= o.forceBargeInMs ||
        // Early partials of a short sound are often a stray word ("the", "so"): one word is not enough.
        (!backchannel && partial.trim().split(/\s+/).length >= 3) ||
        (!backchannel && spanMs >= o.backchannelMaxMs);
      if (!interrupt) return;
      t.interrupt('barge-in');
      log.debug(
        { voicedMs, partialWords: partial ? partial.split(/\s+/).length : 0, backchannel },
        'barge-in',
      );
    },
    onWindow({ prob, voiced, windowMs, rms }) {
      const t = deps.active();
      if (prob < 0.3 && rms < o.energyOnsetRms) floorRms += (rms - floorRms) * 0.05;
      const loud = rms >= Math.max(o.energyOnsetRms, floorRms * o.energyOverFloor);
      if (!t?.interruptible || t.bargedIn || t.done) {
        voicedRunMs = 0;
        quietRunMs = 0;
        return;
      }
      if (voiced || loud) {
        voicedRunMs = voiced ? voicedRunMs + windowMs : voicedRunMs;
        quietRunMs = 0;
        if (!t.paused && (loud || voicedRunMs >= o.pauseOnsetMs || prob >= o.pauseProbability)) {
          t.pause();
          log.debug({ voicedRunMs, prob, rms: Math.round(rms) }, 'agent paused: callee sound over it');
        }
        return;
      }
      voicedRunMs = 0;
      if (!t.paused) return;
      quietRunMs += windowMs;
      if (quietRunMs < o.resumeAfterSilenceMs) return;
      quietRunMs = 0;
      const partial = deps.partial();
      // A pause after a phrase that is more than a backchannel is the callee drawing breath ("Excuse
      // me, ..."), not the end of a sound: resuming there would talk over their next words.
      if (deps.inSpeech() && utteranceVoicedMs >= o.bargeInMs && partial && !isBackchannel(partial)) {
        t.interrupt('barge-in');
        log.debug({ voicedMs: utteranceVoicedMs }, 'barge-in after a phrase and a pause');
        return;
      }
      t.resume();
      log.debug({ partial: partial.length > 0 }, 'agent resumed: not a barge-in');
    },
  };
}
