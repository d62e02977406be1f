import { describe, expect, it } from 'vitest';
import { concat } from '../../../test/media/signals.js';
import { trimLeadingSilence } from './trim-leading-silence.js';

function tone(ms: number, rate: number, amp: number): Int16Array {
  const n = Math.round((ms * rate) / 1000);
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * 300 * i) / rate)));
}

describe('trimLeadingSilence', () => {
  it('drops the quiet lead-in but keeps a little before the speech onset', () => {
    const rate = 16000;
    const audio = concat([tone(200, rate, 20), tone(500, rate, 8000), tone(150, rate, 0)]);
    const trimmed = trimLeadingSilence(audio, rate, { keepMs: 30 });
    const droppedMs = ((audio.length - trimmed.length) * 1000) / rate;
    expect(droppedMs).toBeGreaterThanOrEqual(165);
    expect(droppedMs).toBeLessThanOrEqual(175);
    // Everything from the onset on is still there, the trailing pause included.
    expect(trimmed.subarray(trimmed.length - 10_400)).toEqual(audio.subarray(audio.length - 10_400));
  });

  it('leaves audio that starts loud, or is quiet throughout, as it is', () => {
    const loud = tone(300, 8000, 6000);
    expect(trimLeadingSilence(loud, 8000).length).toBe(loud.length);
    const quiet = tone(300, 8000, 30);
    expect(trimLeadingSilence(quiet, 8000).length).toBe(quiet.length);
  });
});
