import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { decodeWav } from '../../src/telephony/media/wav.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { RawAri } from './ari-test-client.js';

// A loaded machine delays the simulated PBX's 20 ms media clock; after a stall it drops the frames
// it missed. The recording must still last as long as the call did on the wall clock.

let tts: TextToSpeech;
let stt: SpeechToText;
let pbx: SimulatedPbx;
let ari: RawAri;
let storageDir: string;
const logLines: Record<string, any>[] = [];

beforeAll(async () => {
  tts = await createFliteTts();
  stt = await createPocketsphinxStt();
  storageDir = await fs.mkdtemp(path.join(os.tmpdir(), 'recording-length-'));
  pbx = await startSimulatedPbx({
    username: 'ari',
    password: 'secret',
    tts,
    stt,
    logger: pino({ level: 'debug' }, { write: (s: string) => logLines.push(JSON.parse(s)) }),
    storageDir,
  });
  ari = new RawAri(pbx.ariUrl);
  await ari.connect();
});
afterAll(async () => {
  ari?.close();
  await pbx?.stop();
  await stt?.close();
  await tts?.close();
  if (storageDir) await fs.rm(storageDir, { recursive: true, force: true });
});

/** Blocks this process's event loop, and so the PBX's media clock, as a saturated CPU would. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

async function answeredCallInABridge() {
  const ch = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550199@trunk', app: 'test' });
  await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
  const bridge = await ari.call('POST', '/bridges', { type: 'mixing' });
  await ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
  return { ch, bridge };
}

describe('bridge recording on a media clock that falls behind', () => {
  it('lasts as long as the recording ran on the wall clock, the dropped time as silence', async () => {
    const { ch, bridge } = await answeredCallInABridge();
    const startedBy = performance.now();
    await ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'lagging', format: 'wav' });
    const startedAfter = performance.now();
    // Four stalls of 750 ms, each well past the clock's 200 ms resynchronisation: 3 s of ticks dropped.
    for (let i = 0; i < 4; i++) {
      stall(750);
      await yieldToLoop();
    }
    const stoppedBy = performance.now();
    await ari.call('POST', '/recordings/live/lagging/stop');
    const stoppedAfter = performance.now();
    const done = await ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'lagging');
    await ari.call('DELETE', `/channels/${ch.id}`);
    await ari.call('DELETE', `/bridges/${bridge.id}`);

    const wav = decodeWav(await fs.readFile(path.join(storageDir, 'lagging.wav')));
    const recorded = wav.samples.length / wav.sampleRate;
    // The recording ran from some moment in [startedBy, startedAfter] to one in [stoppedBy, stoppedAfter].
    expect(recorded).toBeGreaterThan((stoppedBy - startedAfter) / 1000 - 1);
    expect(recorded).toBeLessThan((stoppedAfter - startedBy) / 1000 + 1);
    expect(done.recording.duration).toBe(Math.round(recorded));
  });

  it('a recording that cannot be written fails with RecordingFailed and is logged with its stack', async () => {
    // A file where the recording's folder should be: the write fails with EEXIST.
    await fs.writeFile(path.join(storageDir, 'blocked'), 'not a folder');
    const { ch, bridge } = await answeredCallInABridge();
    await ari.call('POST', `/bridges/${bridge.id}/record`, {
      name: 'blocked/rec',
      format: 'wav',
      ifExists: 'overwrite',
    });
    // Destroying the bridge ends its recording, as Asterisk does.
    await ari.call('DELETE', `/bridges/${bridge.id}`);
    await ari.call('DELETE', `/channels/${ch.id}`);
    const failed = await ari.waitFor(
      (e) => e.type === 'RecordingFailed' && e.recording.name === 'blocked/rec',
    );
    expect(failed.recording.state).toBe('failed');
    const line = logLines.find((l) => l.msg === 'pbx-sim: recording could not be written');
    expect(line?.err).toMatchObject({ code: 'EEXIST', stack: expect.stringContaining('Error') });
  });
});
