import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  attributeStageCpu,
  calibrateStageCpu,
  callWork,
  countTtsAudio,
  type MeasuredCpu,
  type StageCpuReport,
  stageCpuTable,
  statCpuSeconds,
} from '../../bench/lib/stage-cpu.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { decoderThreadIds } from '../../src/voice/stt/worker-stt.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { TextToSpeech } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import type { VoiceEngines } from '../e2e/helpers/e2e-stack.js';

const threadCpu = (tid: number) => statCpuSeconds(fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'));

describe('statCpuSeconds', () => {
  it('reads utime + stime in clock ticks, whatever the thread name holds', () => {
    // A thread may name itself anything, ") 1 2" included: the fields after the last ')' count.
    const stat = '4242 (weird) 1 2 (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 12345';
    expect(statCpuSeconds(stat)).toBeCloseTo(3.25, 6);
  });
});

describe('callWork', () => {
  it('counts answered time from the call row and heard audio from the tapped frames', () => {
    const log = {
      sampleRate: 16000,
      received: [
        { atMs: 1000, rms: 0 },
        { atMs: 1020, rms: 0 },
        { atMs: 31000, rms: 0 },
      ],
      sent: [],
    };
    expect(
      callWork({ startedAt: '2026-01-01T00:00:10.000Z', endedAt: '2026-01-01T00:00:41.500Z' }, log),
    ).toEqual({
      answeredSeconds: 31.5,
      heardSeconds: 30,
    });
    // A call that was never answered costs no call-minutes.
    expect(callWork({ startedAt: null, endedAt: '2026-01-01T00:00:41.500Z' }, undefined)).toEqual({
      answeredSeconds: 0,
      heardSeconds: 0,
    });
  });
});

const CAL = {
  ttsPoolPerAudioSecond: 0.05,
  ttsMainPerAudioSecond: 0.01,
  vadPerWindow: 0.0002,
  vadPerSession: 0.1,
};

describe('attributeStageCpu', () => {
  it('splits shared threads by counted work and leaves the pool remainder to the dialogue', () => {
    const m: MeasuredCpu = { total: 40, main: 10, pool: 20, exited: 3, agentStt: 4, calleeStt: 2, other: 1 };
    const rows = attributeStageCpu(
      m,
      { agentTtsSeconds: 60, calleeTtsSeconds: 40, vadWindows: 10_000, vadSessions: 2 },
      CAL,
    );
    expect(rows.vad).toBeCloseTo(10_000 * 0.0002 + 2 * 0.1, 9);
    expect(rows.tts).toBeCloseTo(60 * 0.06, 9);
    expect(rows.stt).toBe(4);
    // The pool less both sides' synthesis, plus the threads ggml started and ended during the step.
    expect(rows.dialogue).toBeCloseTo(20 - 100 * 0.05 + 3, 9);
    expect(rows.media).toBeCloseTo(10 - 2.2 - 100 * 0.01, 9);
    expect(rows.callee).toBeCloseTo(2 + 40 * 0.06, 9);
    const sum = Object.values(rows).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(m.total, 9);
    expect(rows.unattributed).toBeCloseTo(1, 9);
  });

  it('shows estimates beyond what was measured as negative unattributed CPU, not as negative stages', () => {
    const m: MeasuredCpu = { total: 3, main: 1, pool: 1, exited: 0, agentStt: 1, calleeStt: 0, other: 0 };
    const rows = attributeStageCpu(
      m,
      { agentTtsSeconds: 100, calleeTtsSeconds: 0, vadWindows: 10_000, vadSessions: 0 },
      CAL,
    );
    expect(rows.dialogue).toBe(0);
    expect(rows.media).toBe(0);
    expect(rows.unattributed).toBeLessThan(0);
  });
});

describe('stageCpuTable', () => {
  it('prints CPU per call-minute and the share of a core per call, and says where threads were not readable', () => {
    const report: StageCpuReport = {
      calls: 2,
      callMinutes: 2,
      measured: { total: 12, main: 4, pool: 4, exited: 0, agentStt: 2, calleeStt: 1, other: 1 },
      work: { agentTtsSeconds: 10, calleeTtsSeconds: 10, vadWindows: 3750, vadSessions: 2 },
      seconds: { vad: 1, stt: 2, dialogue: 3, tts: 0.6, media: 2.4, callee: 1.8, unattributed: 1.2 },
      calibration: { poolTids: [1, 2, 3, 4], ...CAL, vadWindowSeconds: 0.032 },
    };
    const out = stageCpuTable([
      { shape: 'llama3.2-1b', step: { concurrency: 2, stageCpu: report } },
      { shape: 'llama3.2-1b', step: { concurrency: 4, stageCpu: null } },
    ]);
    const row = (label: string) => out.split('\n').find((l) => l.startsWith(label)) ?? '';
    expect(row('dialogue')).toMatch(/^dialogue \(llama\.cpp\)\s+1\.50\s+2\.5%/);
    expect(row('= agentline')).toMatch(/\s4\.50\s+7\.5%/);
    expect(row('total measured')).toMatch(/\s6\.00\s+10\.0%/);
    expect(out).toContain('the stages below add up to 5.40 (90%)');
    expect(out).toContain('4 call(s) at once: no per-thread CPU');
  });
});

describe('countTtsAudio', () => {
  it("counts the agent's and the simulated callee's synthesised audio apart", async () => {
    const fake = (seconds: number): TextToSpeech => ({
      name: 'fake',
      sampleRate: 8000,
      voices: ['a'],
      synthesize: async () => ({ samples: new Int16Array(8000 * seconds), sampleRate: 8000 }),
      close: async () => {},
    });
    const engines = { agentTts: fake(2), calleeTts: fake(3) } as unknown as VoiceEngines;
    const counted = countTtsAudio(engines);
    await counted.engines.agentTts.synthesize('hello');
    await counted.engines.agentTts.synthesize('again');
    await counted.engines.calleeTts.synthesize('hi');
    expect(counted.counts()).toEqual({ agentTtsSeconds: 4, calleeTtsSeconds: 3 });
  });
});

describe.runIf(fs.existsSync('/proc/self/task'))('per-thread CPU of the real engines (Linux)', () => {
  it('a pocketsphinx engine names its decoder threads, and decoding burns CPU on them', async () => {
    const tts = await createFliteTts();
    const stt = await createPocketsphinxStt({ threads: 1 });
    try {
      const tids = decoderThreadIds(stt);
      expect(tids).toHaveLength(1);
      expect(tids[0]).not.toBe(process.pid);
      const before = threadCpu(tids[0]);
      const pcm = await tts.synthesize('Sure, for how many people would that be, and at what time?');
      const stream = stt.createStream();
      for (let off = 0; off < pcm.samples.length; off += 512)
        stream.write(pcm.samples.subarray(off, off + 512));
      await stream.finish();
      stream.close();
      expect(threadCpu(tids[0])).toBeGreaterThan(before);
    } finally {
      await stt.close();
      await tts.close();
    }
  });

  it("finds libuv's pool threads and measures flite on them and Silero on the main thread", async () => {
    const tts = await createFliteTts();
    try {
      const cal = await calibrateStageCpu({ tts, createVad: () => createSileroVad() });
      expect(cal).not.toBeNull();
      const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
      expect(new Set(cal!.poolTids).size).toBe(poolSize);
      expect(cal!.poolTids).not.toContain(process.pid);
      // The method's premise: synthesis runs on the pool, VAD inference on the calling thread.
      expect(cal!.ttsPoolPerAudioSecond).toBeGreaterThan(0);
      expect(cal!.vadPerWindow).toBeGreaterThan(0);
    } finally {
      await tts.close();
    }
  });
});
