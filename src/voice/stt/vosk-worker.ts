/**
 * Worker thread that owns a Vosk model and one recogniser per stream. vosk_recognizer_accept_waveform
 * blocks while it decodes, so it runs here, never on the event loop that paces RTP.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { createDecodeTiming } from './decode-timing.js';
import { readStreamControl, settledByControl } from './stream-control.js';
import { osThreadId } from './thread-id.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface VoskWorkerData {
  libPath: string;
  modelDir: string;
  sampleRate: number;
  /** Closed streams and the shutdown, ahead of the queue (stream-control.ts); set by worker-stt.ts. */
  streamControl?: SharedArrayBuffer;
  /** This thread's index among the engine's decoder threads, where it counts the writes it took. */
  streamThread?: number;
}

const data = workerData as VoskWorkerData;
const control = readStreamControl(data.streamControl, data.streamThread);
const port = parentPort!;
const send = (m: WorkerReply) => port.postMessage(m);

const textOf = (json: string | null, key: 'text' | 'partial'): string => {
  if (!json) return '';
  try {
    const v = JSON.parse(json) as Record<string, unknown>;
    return typeof v[key] === 'string' ? (v[key] as string).trim() : '';
  } catch {
    return '';
  }
};

function main(): void {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(data.libPath);
  } catch (err) {
    throw new Error(`cannot load ${data.libPath}: ${(err as Error).message}`);
  }
  const setLogLevel = lib.func('void vosk_set_log_level(int level)');
  const modelNew = lib.func('void *vosk_model_new(const char *model_path)');
  const modelFree = lib.func('void vosk_model_free(void *model)');
  const recNew = lib.func('void *vosk_recognizer_new(void *model, float sample_rate)');
  const recFree = lib.func('void vosk_recognizer_free(void *recognizer)');
  const accept = lib.func(
    'int vosk_recognizer_accept_waveform_s(void *recognizer, const int16_t *data, int length)',
  );
  const result = lib.func('const char *vosk_recognizer_result(void *recognizer)');
  const partialResult = lib.func('const char *vosk_recognizer_partial_result(void *recognizer)');
  const finalResult = lib.func('const char *vosk_recognizer_final_result(void *recognizer)');
  setLogLevel(-1);
  const model = modelNew(data.modelDir);
  if (!model)
    throw new Error(
      `the Vosk model in ${data.modelDir} could not be loaded (incomplete or not a Vosk model)`,
    );

  interface Stream {
    rec: unknown;
    /** Segments Vosk already closed at pauses within the current utterance. */
    done: string[];
    lastPartial: string;
  }
  const streams = new Map<number, Stream>();
  const timing = createDecodeTiming(data.sampleRate);
  send({ t: 'ready', tid: osThreadId() });

  port.on('message', (m: WorkerRequest) => {
    // A closed stream's audio, and everything once shutting down, is not decoded (stream-control.ts).
    if (settledByControl(control, m, send)) return;
    switch (m.t) {
      case 'open': {
        const rec = recNew(model, data.sampleRate);
        if (!rec)
          send({
            t: 'error',
            id: m.id,
            message: `vosk: cannot create a recogniser at ${data.sampleRate} Hz`,
          });
        else streams.set(m.id, { rec, done: [], lastPartial: '' });
        return;
      }
      case 'write': {
        const s = streams.get(m.id);
        if (!s) return;
        const pcm = new Int16Array(m.pcm);
        const endpoint = timing.time(m.id, pcm.length, () => accept(s.rec, pcm, pcm.length) === 1);
        if (endpoint) {
          const seg = textOf(result(s.rec) as string, 'text');
          if (seg) s.done.push(seg);
        }
        const text = [...s.done, endpoint ? '' : textOf(partialResult(s.rec) as string, 'partial')]
          .filter(Boolean)
          .join(' ');
        if (text !== s.lastPartial) {
          s.lastPartial = text;
          send({ t: 'partial', id: m.id, text });
        }
        return;
      }
      case 'finish': {
        const s = streams.get(m.id);
        if (!s) return send({ t: 'final', id: m.id, req: m.req, text: '' });
        const last = timing.time(m.id, 0, () => textOf(finalResult(s.rec) as string, 'text'));
        const text = [...s.done, last].filter(Boolean).join(' ');
        s.done = [];
        s.lastPartial = '';
        send({ t: 'final', id: m.id, req: m.req, text, timing: timing.take(m.id) });
        return;
      }
      case 'close': {
        const s = streams.get(m.id);
        if (!s) return;
        recFree(s.rec);
        streams.delete(m.id);
        timing.forget(m.id);
        return;
      }
      case 'shutdown': {
        for (const s of streams.values()) recFree(s.rec);
        streams.clear();
        modelFree(model);
        send({ t: 'closed' });
        port.close();
        return;
      }
    }
  });
}

try {
  main();
} catch (err) {
  send({ t: 'init-error', message: (err as Error).message });
}
