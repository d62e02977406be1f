import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../../src/audio/wav.js';
import { type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { CATCH_UP_MS } from '../../src/pbx-sim/media-clock.js';
import { createWebSocketCallAudio } from '../../src/telephony/media/websocket-media.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { RawAri } from './ari-test-client.js';

// A loaded machine delays the simulated PBX's 20 ms media clock: it makes up a short stall by running
// the missed ticks at once, and drops the frames of a long one. Either way the recording must last as
// long as the call did on the wall clock.

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
    // A callee who says nothing, so only the agent's audio is in the recording.
    scenarios: [{ number: SILENT, outcome: 'answer', ringSeconds: 0, states: { start: {} } }],
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

/** Share of a 16 kHz frame's energy at 700 Hz (Goertzel), in [0, 1]. */
function share700(x: Int16Array): number {
  const c = 2 * Math.cos((2 * Math.PI * 700) / 16000);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x[i] * x[i];
  }
  return energy === 0 ? 0 : (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / (x.length * energy);
}

const SILENT = '+14155550198';

async function answeredCallInABridge(number = '+14155550199') {
  const ch = await ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
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
    // Two stalls the clock makes up, then two past its catch-up: 3 s of ticks dropped.
    for (const ms of [600, 600, CATCH_UP_MS + 500, CATCH_UP_MS + 500]) {
      stall(ms);
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
    // `wav` is 8 kHz: Asterisk's samples / 8000 is the real length, in whole seconds.
    expect(done.recording.duration).toBe(Math.floor(recorded));
  });

  it("keeps an agent's audio on time through stalls: what it played before hanging up is recorded", async () => {
    const { ch, bridge } = await answeredCallInABridge(SILENT);
    const ext = await ari.call('POST', '/channels/externalMedia', {
      app: 'test',
      transport: 'websocket',
      encapsulation: 'none',
      connection_type: 'server',
      format: 'slin16',
    });
    // The agent's own media path, paced as in a call.
    const audio = await createWebSocketCallAudio({
      url: `${pbx.url.replace('http', 'ws')}/media/${ext.channelvars.MEDIA_WEBSOCKET_CONNECTION_ID}`,
      format: 'slin16',
    });
    await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ext.id);
    await ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ext.id });
    await ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'on-time', format: 'wav16' });

    // One second of 700 Hz, the loop stalled 300 ms four times while it plays; the recording stops as
    // soon as the play is done, as a controller hangs up once its agent's goodbye has been played.
    // Had each stall left the PBX further behind the agent, the tone's end would miss the recording.
    const tone = new Int16Array(16_000);
    for (let i = 0; i < tone.length; i++)
      tone[i] = Math.round(9000 * Math.sin((2 * Math.PI * 700 * i) / 16000));
    let sent = 0;
    audio.onFrameSent(() => {
      if (++sent % 10 === 0 && sent <= 40) stall(300);
    });
    expect(await audio.play(tone)).toEqual({ completed: true, playedMs: 1000 });
    await ari.call('POST', '/recordings/live/on-time/stop');
    await ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'on-time');
    await audio.close();
    await ari.call('DELETE', `/channels/${ch.id}`);
    await ari.call('DELETE', `/bridges/${bridge.id}`);

    const wav = decodeWav(await fs.readFile(path.join(storageDir, 'on-time.wav16')));
    let toneMs = 0;
    for (let i = 0; i + 320 <= wav.samples.length; i += 320) {
      if (share700(wav.samples.subarray(i, i + 320)) > 0.8) toneMs += 20;
    }
    // All but what one catch-up burst of the pacer and the stop's round trip leave queued (measured:
    // ~880 ms; a clock that dropped the stalled ticks left ~620 ms).
    expect(toneMs).toBeGreaterThanOrEqual(800);
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
