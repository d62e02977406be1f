import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../logger.js';
import { type BargeInOptions, createBargeInWatcher, type Interruptible } from './barge-in.js';

const OPTIONS: BargeInOptions = {
  bargeInMs: 250,
  backchannelMaxMs: 650,
  forceBargeInMs: 1500,
  pauseOnsetMs: 64,
  pauseProbability: 0.8,
  resumeAfterSilenceMs: 300,
  energyOnsetRms: 600,
  energyOverFloor: 8,
};

function harness(turnOpen = true) {
  const events: string[] = [];
  const turn: Interruptible & { interruptible: boolean; paused: boolean; bargedIn: boolean; done: boolean } =
    {
      interruptible: true,
      paused: false,
      bargedIn: false,
      done: false,
      pause() {
        this.paused = true;
        events.push('pause');
      },
      resume() {
        this.paused = false;
        events.push('resume');
      },
      interrupt() {
        this.bargedIn = true;
        this.done = true;
        events.push('interrupt');
      },
    };
  let partial = '';
  let inSpeech = false;
  const w = createBargeInWatcher({
    options: OPTIONS,
    active: () => (turnOpen ? turn : null),
    partial: () => partial,
    inSpeech: () => inSpeech,
    log: silentLogger(),
  });
  let voicedMs = 0;
  let spanMs = 0;
  /** `ms` of 32 ms windows; voiced ones inside speech also advance the utterance. */
  const windows = (ms: number, voiced: boolean, text = partial, rms = voiced ? 300 : 20) => {
    partial = text;
    for (let t = 0; t < ms; t += 32) {
      w.onWindow({ prob: voiced ? 0.7 : 0.05, voiced, windowMs: 32, rms });
      if (inSpeech) {
        spanMs += 32;
        if (voiced) voicedMs += 32;
        w.onSpeechProgress({ voicedMs, spanMs, voicedNow: voiced });
      }
    }
  };
  return {
    turn,
    events,
    windows,
    speech(on: boolean) {
      inSpeech = on;
      if (on) {
        voicedMs = 96;
        spanMs = 96;
        w.onSpeechStart();
      }
    },
  };
}

describe('barge-in', () => {
  it('pauses on a short sound and resumes after a quiet spell when it was only noise', () => {
    const h = harness();
    h.windows(64, true);
    expect(h.events).toEqual(['pause']);
    h.windows(288, false);
    expect(h.events).toEqual(['pause']);
    h.windows(32, false);
    expect(h.events).toEqual(['pause', 'resume']);
  });

  it('pauses at once on a loud onset the VAD does not score as speech yet', () => {
    const h = harness();
    h.windows(32, false, '', 5000);
    expect(h.events).toEqual(['pause']);
  });

  it('lets a backchannel go by: "okay" pauses the agent, which then goes on', () => {
    const h = harness();
    h.windows(64, true);
    h.speech(true);
    h.windows(256, true, 'okay');
    h.speech(false);
    h.windows(320, false, '');
    expect(h.events).toEqual(['pause', 'resume']);
  });

  it('interrupts for three words, for speech going on past the span of a backchannel, or for long speech', () => {
    const words = harness();
    words.windows(64, true);
    words.speech(true);
    words.windows(192, true, 'excuse me wait');
    expect(words.events).toEqual(['pause', 'interrupt']);

    const long = harness();
    long.windows(64, true);
    long.speech(true);
    long.windows(320, true, 'well');
    expect(long.events).toEqual(['pause']);
    long.windows(320, true, 'well');
    expect(long.events).toEqual(['pause', 'interrupt']);

    // A backchannel goes on until speech is too long to be one.
    const mm = harness();
    mm.windows(64, true);
    mm.speech(true);
    mm.windows(1344, true, 'mm');
    expect(mm.events).toEqual(['pause']);
    mm.windows(64, true, 'mm');
    expect(mm.events).toEqual(['pause', 'interrupt']);
  });

  it('interrupts when the callee only draws breath after a phrase, instead of resuming over them', () => {
    const h = harness();
    h.windows(64, true);
    h.speech(true);
    h.windows(192, true, 'excuse');
    h.windows(320, false, 'excuse me');
    expect(h.events).toEqual(['pause', 'interrupt']);
  });

  it('does nothing while no interruptible turn is on the line', () => {
    const none = harness(false);
    none.windows(500, true, 'hello there my friend');
    expect(none.events).toEqual([]);
    const goodbye = harness();
    goodbye.turn.interruptible = false;
    goodbye.windows(500, true, 'hello there my friend');
    expect(goodbye.events).toEqual([]);
  });
});
