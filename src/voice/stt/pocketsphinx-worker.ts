/**
 * Worker thread that owns pocketsphinx decoders. ps_process_raw blocks for 0.3–0.7× the audio's
 * duration, so it runs here and never on the event loop that paces RTP. One worker serves several
 * streams; each stream holds its own decoder, taken from a pool because ps_init is slow.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface PocketsphinxWorkerData {
  hmm: string;
  lm: string;
  dict: string;
  /** Samples between two partial hypotheses (get_hyp is not free). */
  partialEverySamples: number;
}

const data = workerData as PocketsphinxWorkerData;
const port = parentPort!;
const send = (m: WorkerReply) => port.postMessage(m);

function main(): void {
  const sphinxbase = koffi.load('libsphinxbase.so.3');
  const ps = koffi.load('libpocketsphinx.so.3');
  const cmdLnInit = sphinxbase.func('void *cmd_ln_init(void *inout, void *defn, int strict, ...)');
  const cmdLnFree = sphinxbase.func('int cmd_ln_free_r(void *cmdln)');
  const psArgs = ps.func('void *ps_args()');
  const psInit = ps.func('void *ps_init(void *config)');
  const psFree = ps.func('int ps_free(void *ps)');
  const psStartUtt = ps.func('int ps_start_utt(void *ps)');
  const psProcessRaw = ps.func(
    'int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)',
  );
  const psEndUtt = ps.func('int ps_end_utt(void *ps)');
  const psGetHyp = ps.func('const char *ps_get_hyp(void *ps, _Out_ int32_t *score)');

  const config = cmdLnInit(
    null,
    psArgs(),
    1,
    'str',
    '-hmm',
    'str',
    data.hmm,
    'str',
    '-lm',
    'str',
    data.lm,
    'str',
    '-dict',
    'str',
    data.dict,
    'str',
    '-logfn',
    'str',
    '/dev/null',
    'void *',
    null,
  );
  if (!config) throw new Error('pocketsphinx: invalid decoder configuration');

  const newDecoder = (): unknown => {
    const d = psInit(config);
    if (!d)
      throw new Error(`pocketsphinx: ps_init failed (model files: ${data.hmm}, ${data.lm}, ${data.dict})`);
    return d;
  };

  interface Stream {
    dec: unknown;
    inUtt: boolean;
    sinceHyp: number;
    lastPartial: string;
  }
  const free: unknown[] = [newDecoder()];
  const streams = new Map<number, Stream>();
  const hyp = (dec: unknown): string => {
    const score = [0];
    return ((psGetHyp(dec, score) as string | null) ?? '').trim();
  };
  const endUtt = (s: Stream): string => {
    if (!s.inUtt) return '';
    psEndUtt(s.dec);
    s.inUtt = false;
    s.sinceHyp = 0;
    s.lastPartial = '';
    return hyp(s.dec);
  };

  send({ t: 'ready' });

  port.on('message', (m: WorkerRequest) => {
    switch (m.t) {
      case 'open': {
        try {
          const dec = free.pop() ?? newDecoder();
          streams.set(m.id, { dec, inUtt: false, sinceHyp: 0, lastPartial: '' });
        } catch (err) {
          send({ t: 'error', id: m.id, message: (err as Error).message });
        }
        return;
      }
      case 'write': {
        const s = streams.get(m.id);
        if (!s) return;
        const pcm = new Int16Array(m.pcm);
        if (!s.inUtt) {
          psStartUtt(s.dec);
          s.inUtt = true;
        }
        psProcessRaw(s.dec, pcm, pcm.length, 0, 0);
        s.sinceHyp += pcm.length;
        if (s.sinceHyp >= data.partialEverySamples) {
          s.sinceHyp = 0;
          const text = hyp(s.dec);
          if (text !== s.lastPartial) {
            s.lastPartial = text;
            send({ t: 'partial', id: m.id, text });
          }
        }
        return;
      }
      case 'finish': {
        const s = streams.get(m.id);
        send({ t: 'final', id: m.id, req: m.req, text: s ? endUtt(s) : '' });
        return;
      }
      case 'close': {
        const s = streams.get(m.id);
        if (!s) return;
        endUtt(s);
        streams.delete(m.id);
        free.push(s.dec);
        return;
      }
      case 'shutdown': {
        for (const s of streams.values()) free.push(s.dec);
        streams.clear();
        for (const d of free) psFree(d);
        free.length = 0;
        cmdLnFree(config);
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
