import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFakeLine, createFakeTts } from '../../../test/agent/helpers/fake-line.js';
import { silentLogger } from '../../logger.js';
import type { AgentAction } from '../dialogue/types.js';
import { AgentTurn, type AgentTurnOptions, type TurnSource } from './agent-turn.js';

let line: ReturnType<typeof createFakeLine>;
let tts: ReturnType<typeof createFakeTts>;
const onPauseTimeout = vi.fn<(t: AgentTurn) => void>();

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(0);
  line = createFakeLine();
  tts = createFakeTts();
  onPauseTimeout.mockReset();
});
afterEach(() => {
  line.stop();
  vi.useRealTimers();
});

function start(opts: Partial<AgentTurnOptions> & { source: TurnSource }): AgentTurn {
  return new AgentTurn(
    {
      audio: line.audio,
      tts,
      log: silentLogger(),
      resumeBackupMs: 0,
      pauseTimeoutMs: 2000,
      onPauseTimeout,
      now: () => Date.now(),
    },
    { interruptible: true, ...opts },
  );
}

/** The model writing `say` a word every `everyMs`, then choosing `action`. */
function slowModel(say: string, everyMs: number, action: Partial<AgentAction> = {}): TurnSource {
  return {
    async generate({ signal, onSay }) {
      for (const w of say.match(/\S+\s*/g) ?? []) {
        await new Promise((r) => setTimeout(r, everyMs));
        if (signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        onSay(w);
      }
      return { action: 'speak', say, ...action } as AgentAction;
    },
  };
}

describe('AgentTurn', () => {
  it('plays a fixed line to its end and reports all of it heard', async () => {
    const turn = start({ source: { fixed: 'Hello there. This is the assistant.' } });
    const playout = turn.waitForPlayout();
    await vi.advanceTimersByTimeAsync(3000);
    const p = await playout;
    expect(p).toMatchObject({
      spoken: 'Hello there. This is the assistant.',
      interrupted: false,
      bargedIn: false,
      failed: false,
      action: { action: 'speak', say: 'Hello there. This is the assistant.' },
    });
    // 6 words × 200 ms of tone: 60 voiced frames, the first stamped as the turn's first voiced frame.
    expect(line.voicedAt).toHaveLength(60);
    expect(p.firstVoicedAt).toBe(line.voicedAt[0]);
    expect(p.endAt).toBeGreaterThanOrEqual(line.voicedAt.at(-1)!);
  });

  it('speaks the first clause while the model is still writing the rest', async () => {
    const turn = start({ source: slowModel('Sure, I can help you with that booking tonight.', 300) });
    const playout = turn.waitForPlayout();
    await vi.advanceTimersByTimeAsync(1000);
    // "Sure," went out long before the model finished (9 words × 300 ms).
    expect(line.voicedAt.length).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(6000);
    const p = await playout;
    expect(p.spoken).toBe('Sure, I can help you with that booking tonight.');
    expect(p.firstVoicedAt!).toBeLessThan(2700);
  });

  it('interrupt() drops the queued audio at once and keeps only what was heard', async () => {
    const turn = start({ source: { fixed: 'one two three four five six seven eight nine ten' } });
    const playout = turn.waitForPlayout();
    // Half a second in: about two and a half words out of ten.
    await vi.advanceTimersByTimeAsync(520);
    turn.interrupt();
    const heardFrames = line.voicedAt.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(line.voicedAt.length).toBe(heardFrames);
    const p = await playout;
    expect(line.flushes).toBe(1);
    expect(turn.signal.aborted).toBe(true);
    expect(p).toMatchObject({ interrupted: true, bargedIn: true, spoken: 'one two three' });
  });

  it('pause() holds the output and resume() goes on: every word is heard once the turn ends', async () => {
    const turn = start({ source: { fixed: 'one two three four five' } });
    const playout = turn.waitForPlayout();
    await vi.advanceTimersByTimeAsync(300);
    turn.pause();
    const before = line.voicedAt.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(line.voicedAt.length).toBe(before);
    turn.resume();
    await vi.advanceTimersByTimeAsync(2000);
    const p = await playout;
    expect(p).toMatchObject({ interrupted: false, spoken: 'one two three four five' });
    // The line played the rest after the pause: all 50 frames went out (none replayed: no back-up).
    expect(line.voicedAt.length).toBe(50);
    expect(onPauseTimeout).not.toHaveBeenCalled();
  });

  it('asks what to do when a pause lasts past its timeout', async () => {
    const turn = start({ source: { fixed: 'one two three four five' } });
    await vi.advanceTimersByTimeAsync(300);
    turn.pause();
    await vi.advanceTimersByTimeAsync(1999);
    expect(onPauseTimeout).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(onPauseTimeout).toHaveBeenCalledWith(turn);
    turn.interrupt('pause-timeout');
    expect((await turn.waitForPlayout()).interrupted).toBe(true);
  });

  it('holds an early reply until release(), and a cancelled one never plays', async () => {
    const held = start({ source: { fixed: 'Thank you.' }, held: true });
    await vi.advanceTimersByTimeAsync(1000);
    expect(held.held).toBe(true);
    expect(held.interruptible).toBe(false);
    expect(tts.said).toEqual(['Thank you.']);
    expect(line.voicedAt).toEqual([]);
    const after = { text: 'yes', startMs: 1, endMs: 2, sttFinalMs: 3 };
    held.release(after);
    expect(held.interruptible).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    const p = await held.waitForPlayout();
    expect(p).toMatchObject({ spoken: 'Thank you.', interrupted: false, after });
    expect(line.voicedAt).toHaveLength(20);

    const dropped = start({ source: slowModel('Great, see you then.', 50), held: true });
    await vi.advanceTimersByTimeAsync(100);
    dropped.cancel('callee went on');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await dropped.waitForPlayout()).toMatchObject({ spoken: '', firstPlayAt: null, action: null });
    expect(line.voicedAt).toHaveLength(20);
    expect(line.flushes).toBe(0);
  });

  it('reports a failed model as failed, and a stopped turn as interrupted without a barge-in', async () => {
    const failing = start({
      source: {
        generate: async () => {
          throw new Error('model process died');
        },
      },
    });
    expect(await failing.waitForPlayout()).toMatchObject({ failed: true, action: null, spoken: '' });

    const stopped = start({ source: { fixed: 'one two three four five' }, interruptible: false });
    const playout = stopped.waitForPlayout();
    await vi.advanceTimersByTimeAsync(420);
    stopped.stop('goodbye-timeout');
    await vi.advanceTimersByTimeAsync(100);
    expect(await playout).toMatchObject({ interrupted: true, bargedIn: false, spoken: 'one two' });
  });
});
