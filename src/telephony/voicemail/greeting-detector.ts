export interface GreetingDetectorOptions {
  sampleRate: number;
  /** Frame RMS (16-bit scale) above which a frame counts as sound. */
  speechRms?: number;
  /** Pauses shorter than this do not end an utterance (ms). */
  maxPauseMs?: number;
  /** An opening utterance at least this long is a recorded greeting, not a person saying hello (ms). */
  machineSpeechMs?: number;
  /** Silence after the opening utterance that settles it as a person's short greeting (ms). */
  humanSilenceMs?: number;
}

export type GreetingVerdict = 'machine' | 'human';

/**
 * The shape of the first thing heard after answer. A person says something short ("Hello?") and
 * waits; a voicemail greeting talks on for several seconds without waiting for a reply. Decides
 * once, on the opening utterance only; afterwards `silenceMs` tells how long the line has been quiet
 * (a greeting that ended without a beep).
 */
export class GreetingDetector {
  private readonly speechRms: number;
  private readonly maxPauseMs: number;
  private readonly machineSpeechMs: number;
  private readonly humanSilenceMs: number;
  private readonly sampleRate: number;
  private speechStarted = false;
  private utteranceMs = 0;
  private pauseMs = 0;
  private quietMs = 0;
  private heardSound = false;
  private decided: GreetingVerdict | null = null;

  constructor(opts: GreetingDetectorOptions) {
    if (!(opts.sampleRate > 0)) throw new Error('GreetingDetector: sampleRate must be positive');
    this.sampleRate = opts.sampleRate;
    this.speechRms = opts.speechRms ?? 500;
    this.maxPauseMs = opts.maxPauseMs ?? 400;
    this.machineSpeechMs = opts.machineSpeechMs ?? 3500;
    this.humanSilenceMs = opts.humanSilenceMs ?? 900;
  }

  get verdict(): GreetingVerdict | null {
    return this.decided;
  }

  /** Milliseconds of continuous quiet up to now, counted only once something was heard. */
  get silenceMs(): number {
    return this.heardSound ? this.quietMs : 0;
  }

  /** Feeds one frame; returns the verdict on the frame that settles it, else null. */
  push(frame: Int16Array): GreetingVerdict | null {
    if (frame.length === 0) return null;
    const frameMs = (frame.length * 1000) / this.sampleRate;
    let energy = 0;
    for (let i = 0; i < frame.length; i++) energy += frame[i] * frame[i];
    const loud = Math.sqrt(energy / frame.length) >= this.speechRms;
    if (loud) {
      this.heardSound = true;
      this.quietMs = 0;
    } else {
      this.quietMs += frameMs;
    }
    if (this.decided) return null;
    if (!this.speechStarted) {
      if (!loud) return null;
      this.speechStarted = true;
    }
    if (loud) {
      // A short pause inside the utterance counts as part of it.
      this.utteranceMs += this.pauseMs + frameMs;
      this.pauseMs = 0;
      if (this.utteranceMs >= this.machineSpeechMs) return this.settle('machine');
      return null;
    }
    this.pauseMs += frameMs;
    if (this.pauseMs > this.maxPauseMs && this.pauseMs >= this.humanSilenceMs) return this.settle('human');
    return null;
  }

  private settle(v: GreetingVerdict): GreetingVerdict {
    this.decided = v;
    return v;
  }
}
