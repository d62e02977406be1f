import type WebSocket from 'ws';
import { silentLogger } from '../../src/logger.js';
import { BUNDLED_SCENARIOS_DIR, type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import type { Scenario } from '../../src/pbx-sim/scenario.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { RawAri } from './ari-test-client.js';

export interface SimFixture {
  pbx: SimulatedPbx;
  ari: RawAri;
  tts: TextToSpeech;
  stt: SpeechToText;
  close(): Promise<void>;
}

/**
 * A simulated PBX with the bundled scenarios (or `scenarios`), real flite and pocketsphinx, and a
 * connected raw ARI client.
 */
export async function startSimFixture(
  opts: { storageDir?: string; scenarios?: Scenario[] } = {},
): Promise<SimFixture> {
  const tts = await createFliteTts();
  const stt = await createPocketsphinxStt();
  const pbx = await startSimulatedPbx({
    username: 'ari',
    password: 'secret',
    scenarios: opts.scenarios ?? BUNDLED_SCENARIOS_DIR,
    tts,
    stt,
    logger: silentLogger(),
    storageDir: opts.storageDir,
  });
  const ari = new RawAri(pbx.ariUrl);
  await ari.connect();
  return {
    pbx,
    ari,
    tts,
    stt,
    async close() {
      ari.close();
      await pbx.stop();
      await stt.close();
      await tts.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (the simulated callee reacts in real time). */
export async function eventually<T>(
  fn: () => T | undefined | null | false,
  ms = 15_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** What an agent's chan_websocket media socket (slin16) has received so far. */
export interface WsMediaWatch {
  /** The text messages (MEDIA_START, MEDIA_MARK_PROCESSED ...), in order. */
  readonly texts: string[];
  /** Binary frames whose peak is speech-like (well above line noise). */
  readonly loudFrames: number;
  /** Audio time (ms) since the last loud frame; 0 until one came. */
  readonly quietMs: number;
}

export function watchWsMedia(ws: WebSocket): WsMediaWatch {
  const watch = { texts: [] as string[], loudFrames: 0, quietMs: 0 };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      watch.texts.push(data.toString('utf8'));
      return;
    }
    let peak = 0;
    for (let i = 0; i + 1 < data.length; i += 2) peak = Math.max(peak, Math.abs(data.readInt16LE(i)));
    if (peak > 2000) {
      watch.loudFrames++;
      watch.quietMs = 0;
    } else if (watch.loudFrames > 0) {
      watch.quietMs += data.length / 32; // slin16: 32 bytes a millisecond
    }
  });
  return watch;
}
