import type { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import type { PocketsphinxWorkerData } from '../../src/voice/stt/pocketsphinx-worker.js';
import { startWorker } from '../../src/voice/stt/start-worker.js';
import { createStreamControl, type StreamControl } from '../../src/voice/stt/stream-control.js';
import type { WorkerReply, WorkerRequest } from '../../src/voice/stt/worker-protocol.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, SttStream, TextToSpeech } from '../../src/voice/types.js';
import { concat as concatArray } from '../media/signals.js';

// Decoding an utterance to its end in the callee's pause, while the listener waits out its
// end-of-turn silence, instead of after the finish: a cold stream's second pass (a restart with the
// mean learnt so far) and pocketsphinx's end-of-utterance searches. Driven through the worker
// protocol, whose final reply says which happened.

const MODEL = '/usr/share/pocketsphinx/model/en-us';
const ms = (v: number) => Math.round(v * 16);
const WINDOW = 512; // what the callee listener writes: one VAD window

const data = (over: Partial<PocketsphinxWorkerData> = {}): PocketsphinxWorkerData => ({
  hmm: `${MODEL}/en-us`,
  lm: `${MODEL}/en-us.lm.bin`,
  dict: `${MODEL}/cmudict-en-us.dict`,
  partialEverySamples: ms(250),
  warmupSamples: ms(5000),
  maxRedecodeSamples: ms(20_000),
  pauseSamples: ms(150),
  endSamples: ms(250),
  fwdflat: true,
  bestpath: true,
  search: {},
  ...over,
});

/** Deterministic noise: the line between words. */
function noise(durationMs: number, amplitude: number, seed = 11): Int16Array {
  const out = new Int16Array(ms(durationMs));
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = Math.round((x / 0x7fffffff - 0.5) * 2 * amplitude);
  }
  return out;
}
const concat = (...parts: Int16Array[]) => concatArray(parts);
/** Stands in for speech: a vowel-like buzz (decodes as fast as speech, unlike loud noise). */
const loud = (durationMs: number) => {
  const out = new Int16Array(ms(durationMs));
  for (let i = 0; i < out.length; i++) {
    const t = i / 16_000;
    out[i] = Math.round(
      3000 *
        (Math.sin(2 * Math.PI * 140 * t) +
          0.6 * Math.sin(2 * Math.PI * 700 * t) +
          0.4 * Math.sin(2 * Math.PI * 1200 * t)),
    );
  }
  return out;
};
const quiet = (durationMs: number) => noise(durationMs, 30);
/** Samples up to the end of the last window within 35 dB of the loudest: where a VAD hears the speech end. */
function speechEnd(s: Int16Array): number {
  const power: number[] = [];
  for (let off = 0; off < s.length; off += WINDOW) {
    const w = s.subarray(off, off + WINDOW);
    power.push(w.reduce((a, v) => a + v * v, 0) / w.length);
  }
  const max = Math.max(...power);
  return Math.min(s.length, (power.findLastIndex((p) => p >= max / 10 ** 3.5) + 1) * WINDOW);
}

type Final = Extract<WorkerReply, { t: 'final' }>;

async function startDecoder(over: Partial<PocketsphinxWorkerData> = {}) {
  const worker: Worker = startWorker(
    new URL('../../src/voice/stt/pocketsphinx-worker.ts', import.meta.url),
    data(over),
  );
  const finals = new Map<number, (m: Final) => void>();
  const partials: string[] = [];
  let onClosed = () => {};
  const closed = new Promise<void>((r) => (onClosed = r));
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: WorkerReply) => {
      if (m.t === 'closed') onClosed();
      if (m.t === 'ready') resolve();
      else if (m.t === 'init-error') reject(new Error(m.message));
      else if (m.t === 'final') finals.get(m.req)?.(m);
      else if (m.t === 'partial') partials.push(m.text);
    });
    worker.on('error', reject);
  });
  const post = (m: WorkerRequest, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer);
  let req = 0;
  return {
    worker,
    partials,
    /** Resolves when the worker answered a shutdown. */
    closed,
    shutdown: () => post({ t: 'shutdown' }),
    open: (id: number) => post({ t: 'open', id }),
    /** Writes the audio in listener-sized windows, without ending the utterance. */
    write(id: number, audio: Int16Array): void {
      for (let off = 0; off < audio.length; off += WINDOW) {
        const chunk = audio.slice(off, off + WINDOW);
        post({ t: 'write', id, pcm: chunk.buffer as ArrayBuffer }, [chunk.buffer as ArrayBuffer]);
      }
    },
    /** Resolves once the worker has handled everything posted before (it answers in order). */
    sync(): Promise<void> {
      const r = ++req;
      return new Promise<void>((resolve) => {
        finals.set(r, () => resolve());
        post({ t: 'finish', id: -1, req: r });
      });
    },
    /** Writes the audio in listener-sized windows and ends the utterance. */
    say(id: number, audio: Int16Array): Promise<Final> {
      for (let off = 0; off < audio.length; off += WINDOW) {
        const chunk = audio.slice(off, off + WINDOW);
        post({ t: 'write', id, pcm: chunk.buffer as ArrayBuffer }, [chunk.buffer as ArrayBuffer]);
      }
      return this.finish(id);
    },
    /** Ends the utterance written so far. */
    finish(id: number): Promise<Final> {
      const r = ++req;
      return new Promise<Final>((resolve) => {
        finals.set(r, resolve);
        post({ t: 'finish', id, req: r });
      });
    },
  };
}

// Every result here follows from the audio alone (the worker answers in order; nothing is timed), but
// each test loads the model and decodes seconds of audio several times over: on a machine whose cores
// are taken by other work that runs to minutes, so the limit only guards against a hang.
describe('pocketsphinx worker: decoding in the pause', { timeout: 180_000 }, () => {
  const workers: Worker[] = [];
  let tts: TextToSpeech;
  const decoder = async (over: Partial<PocketsphinxWorkerData> = {}) => {
    const d = await startDecoder(over);
    workers.push(d.worker);
    return d;
  };
  const speak = async (text: string, voice = 'slt') => (await tts.synthesize(text, { voice })).samples;
  beforeAll(async () => {
    tts = await createFliteTts();
  }, 180_000);
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });
  afterAll(async () => {
    await tts?.close();
  });

  it('restarts a cold utterance and decodes it to its end in each pause', async () => {
    const d = await decoder();
    d.open(1);
    expect(await d.say(1, concat(quiet(400), loud(1500), quiet(650)))).toMatchObject({
      restarts: 1,
      secondPass: false,
      endedInPause: true,
    });
    // A muted line (digital silence) around the speech is quiet too.
    d.open(3);
    const muted = (durationMs: number) => new Int16Array(ms(durationMs));
    expect(await d.say(3, concat(muted(400), loud(1500), muted(650)))).toMatchObject({
      restarts: 1,
      secondPass: false,
      endedInPause: true,
    });
    // The callee goes on after a pause: decoded again from its start, and restarted at the next one.
    d.open(2);
    expect(await d.say(2, concat(quiet(400), loud(1000), quiet(600), loud(1000), quiet(650)))).toMatchObject({
      restarts: 2,
      resumes: 1,
      secondPass: false,
      endedInPause: true,
    });
  });

  it('decodes at the finish, with the second pass after it, when no pause came before it', async () => {
    const d = await decoder();
    d.open(1);
    // Cut while loud (a monologue cut at maxUtteranceMs, or the call ending) or too early in a pause.
    expect(await d.say(1, concat(quiet(400), loud(1500)))).toMatchObject({
      restarts: 0,
      secondPass: true,
      endedInPause: false,
    });
    d.open(2);
    expect(await d.say(2, concat(quiet(400), loud(1500), quiet(100)))).toMatchObject({
      restarts: 0,
      secondPass: true,
      endedInPause: false,
    });

    const off = await decoder({ pauseSamples: 0 });
    off.open(1);
    expect(await off.say(1, concat(quiet(400), loud(1500), quiet(650)))).toMatchObject({
      restarts: 0,
      secondPass: true,
      endedInPause: false,
    });
  });

  it('restarts once a warm-up of audio was heard while loud, and decodes warm streams once', async () => {
    const d = await decoder({ warmupSamples: ms(2000) });
    d.open(1);
    // The restart at 2 s, while loud, is the last: the pause at the end only decodes to the end.
    expect(await d.say(1, concat(quiet(400), loud(2500), quiet(650)))).toMatchObject({
      restarts: 1,
      secondPass: false,
      endedInPause: true,
    });
    expect(await d.say(1, concat(quiet(400), loud(1500), quiet(650)))).toMatchObject({
      restarts: 0,
      secondPass: false,
      endedInPause: true,
    });
  });

  it('keeps the words on both sides of a pause within the utterance', async () => {
    const d = await decoder({ warmupSamples: 0 });
    d.open(1);
    const final = await d.say(
      1,
      concat(
        quiet(400),
        await speak('Sorry, I am busy right now.', 'rms'),
        quiet(600),
        await speak('The weather is nice today.', 'kal16'),
        quiet(650),
      ),
    );
    expect(final).toMatchObject({ endedInPause: true, resumes: 1 });
    expect(final.text).toMatch(/busy right now.*weather/);
    // What was decoded in the pause reached the caller as a partial before the finish asked for it.
    expect(d.partials).toContain(final.text);
  });

  it('has the final text as its partial 250 ms into the pause', async () => {
    // The conversation agent starts its early reply from the partial it has 250 ms into the callee's
    // silence, and plays it only if the final has the same words. With the utterance decoded to its
    // end only at 450 ms, this partial was the first search's guess: "... five five five to one
    // three four" against the final's "two".
    const d = await decoder();
    d.open(1);
    const first = await d.say(
      1,
      concat(quiet(500), await speak('My name is John Smith.', 'awb'), quiet(700)),
    );
    expect(first.text).toBe('my name is john smith');
    const line = await speak('The number is five five five, two one three four.', 'awb');
    const spoken = line.subarray(0, speechEnd(line));
    // Whole windows, as the agent counts its quiet: 8 of them make the 250 ms.
    d.write(1, concat(quiet(1504), spoken, quiet(256)));
    await d.sync();
    const atPause = d.partials.at(-1);
    const final = await d.say(1, quiet(448));
    expect(final).toMatchObject({
      text: 'the number is five five five two one three four',
      endedInPause: true,
    });
    expect(atPause).toBe(final.text);
  });

  it("recognises a fresh stream's first utterance from the restarted decode", async () => {
    const d = await decoder();
    const cases = [
      { voice: 'rms', text: 'Hello, who is this?', want: 'hello who is this' },
      { voice: 'kal16', text: 'The weather is nice today.', want: 'the weather is nice today' },
      {
        voice: 'rms',
        text: 'I would like to book a table for dinner please.',
        want: 'i would like to book a table for dinner please',
      },
    ];
    let id = 0;
    for (const c of cases) {
      d.open(++id);
      const final = await d.say(id, concat(quiet(400), await speak(c.text, c.voice), quiet(650)));
      expect(final).toMatchObject({ text: c.want, secondPass: false, endedInPause: true });
      expect(final.restarts).toBeGreaterThan(0);
    }
  });
});

// A decoder thread behind its queue (a loaded machine) must not decode audio nobody waits for: a
// closed stream's, or any once the engine shuts down. At shutdown that backlog held close(), and so
// the process's exit, for minutes after a batch of calls.
describe('pocketsphinx worker: audio nobody waits for', { timeout: 180_000 }, () => {
  const workers: Worker[] = [];
  const engines: SpeechToText[] = [];
  let tts: TextToSpeech;
  const decoder = async (control: StreamControl) => {
    const d = await startDecoder({ streamControl: control.buffer, streamThread: 0 });
    workers.push(d.worker);
    return d;
  };
  beforeAll(async () => {
    tts = await createFliteTts();
  }, 180_000);
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });
  afterAll(async () => {
    await tts?.close();
  });
  /** Writes `durationMs` of a callee talking on into `stream` at once, in listener-sized windows. */
  const talkInto = async (stream: SttStream, durationMs: number) => {
    const line = concat(
      (
        await tts.synthesize('I would like to book a table for dinner tomorrow evening please.', {
          voice: 'rms',
        })
      ).samples,
      quiet(300),
    );
    for (let written = 0; written < ms(durationMs); written += line.length)
      for (let off = 0; off < line.length; off += WINDOW) stream.write(line.subarray(off, off + WINDOW));
  };

  it("skips a closed stream's queued audio, and decodes the live stream beside it", async () => {
    const control = createStreamControl(1);
    const d = await decoder(control);
    const speech = concat(
      quiet(400),
      (await tts.synthesize('Hello, who is this?', { voice: 'rms' })).samples,
      quiet(650),
    );
    d.open(1);
    d.open(2);
    // The main thread closed stream 1 while its audio was still queued for the decoder.
    control.markClosed(1);
    d.write(1, speech);
    const live = await d.say(2, speech);
    expect(live.text).toBe('hello who is this');
    expect(live.timing!.audioMs).toBeGreaterThan(2000);
    const gone = await d.finish(1);
    expect(gone.text).toBe('');
    expect(gone.timing!.audioMs).toBe(0);
  });

  it('answers finishes without decoding once shutting down, and then shuts down', async () => {
    const control = createStreamControl(1);
    const d = await decoder(control);
    d.open(1);
    d.write(1, loud(3000));
    control.markShutdown();
    d.write(1, loud(3000));
    const final = await d.finish(1);
    expect(final).toMatchObject({ text: '' });
    expect(final.timing).toBeUndefined();
    d.shutdown();
    await d.closed;
  });

  it('says how far its decoder runs behind the audio, and catches up once a closed stream is skipped', async () => {
    const stt = await createPocketsphinxStt({ threads: 1 });
    engines.push(stt);
    expect(stt.backlogMs!()).toBe(0);
    const stream = stt.createStream();
    // Five minutes of speech written at once: the decoder takes over a minute to get through it.
    await talkInto(stream, 300_000);
    // The oldest audio not yet taken waits longer and longer while the thread decodes.
    await vi.waitFor(() => expect(stt.backlogMs!()).toBeGreaterThanOrEqual(1000), {
      timeout: 60_000,
      interval: 50,
    });
    stream.close();
    await vi.waitFor(() => expect(stt.backlogMs!()).toBe(0), { timeout: 60_000, interval: 50 });
  }, 150_000);

  it('is behind by nothing once an idle decoder has taken every write, however quickly it took them', async () => {
    const stt = await createPocketsphinxStt({ threads: 2 });
    engines.push(stt);
    const streams = [stt.createStream(), stt.createStream()];
    // Paced like live calls, so each thread waits idle for the next write and takes it the moment it
    // is posted: the race in which a write was counted taken before the engine had noted it (a write
    // then stayed in the backlog for good, which grew with the time since the last write).
    const frame = noise(32, 300);
    for (let i = 0; i < 400; i++) {
      for (const s of streams) s.write(frame);
      await new Promise((r) => setTimeout(r, 5));
    }
    await vi.waitFor(() => expect(stt.backlogMs!()).toBe(0), { timeout: 30_000, interval: 20 });
    for (const s of streams) s.close();
  });

  it('closes an engine at once with minutes of audio still queued for its decoder', async () => {
    const stt = await createPocketsphinxStt({ threads: 1 });
    const stream = stt.createStream();
    // 10 minutes of a callee talking on: ~2.5 minutes of decoding on these machines (RTF 0.26), and
    // more on a loaded one; the test's limit only catches a close that waits for it.
    await talkInto(stream, 600_000);
    const open = stt.createStream();
    open.write(loud(1000));
    await stt.close();
    expect(() => stt.createStream()).toThrow(/closed/);
  }, 60_000);
});
