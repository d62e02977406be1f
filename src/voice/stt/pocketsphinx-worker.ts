/**
 * Worker thread that owns pocketsphinx decoders. ps_process_raw blocks for 0.3–0.7× the audio's
 * duration, so it runs here and never on the event loop that paces RTP. One worker serves several
 * streams; each stream holds its own decoder, taken from a pool because ps_init is slow.
 *
 * Live CMN is the decoder state that matters between streams and utterances: pocketsphinx subtracts
 * a running cepstral mean, learnt from the audio it has heard and updated at each utterance end.
 * A pooled decoder would carry the previous caller's mean (after 8 kHz-upsampled audio it garbled
 * clean speech), so each stream starts from the model's initial mean, exactly like a fresh decoder.
 * That initial mean (en-us feat.params -cmninit) is far from most voices, which made a stream's
 * first utterance the worst one; until a stream has heard `warmupSamples`, an utterance's final
 * text therefore comes from a second pass over its audio with the mean that includes it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { bindCmn, type CmnState } from './pocketsphinx-cmn.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface PocketsphinxWorkerData {
  hmm: string;
  lm: string;
  dict: string;
  /** Samples between two partial hypotheses (get_hyp is not free). */
  partialEverySamples: number;
  /** Audio a stream must have heard before its utterances are decoded in one pass only (0: never two). */
  warmupSamples: number;
  /** Longest utterance kept for the second pass; longer ones adapt CMN live and keep one pass. */
  maxRedecodeSamples: number;
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
  const psStartStream = ps.func('int ps_start_stream(void *ps)');
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
    /** Samples this stream has fed, to tell when its CMN has adapted to the line. */
    heard: number;
    /** The current utterance's audio while it is kept for a second pass, else null. */
    utt: Int16Array[] | null;
    uttSamples: number;
  }
  const first = newDecoder();
  const cmn = bindCmn(ps, first);
  // What ps_init leaves in a decoder: the model's -cmninit mean and nothing accumulated.
  const freshCmn: CmnState = cmn.read(first);
  const free: unknown[] = [first];
  const streams = new Map<number, Stream>();
  const hyp = (dec: unknown): string => {
    const score = [0];
    return ((psGetHyp(dec, score) as string | null) ?? '').trim();
  };
  const redecode = (dec: unknown, chunks: Int16Array[]): string => {
    // ps_end_utt folded the utterance into the running mean; decode it again normalised by that
    // mean, then put the state back so that this pass does not count the audio twice.
    const adapted = cmn.read(dec);
    cmn.write(dec, { mean: adapted.mean, sum: adapted.sum.map(() => 0), nframe: 0 });
    psStartUtt(dec);
    for (const c of chunks) psProcessRaw(dec, c, c.length, 0, 0);
    psEndUtt(dec);
    cmn.write(dec, adapted);
    return hyp(dec);
  };
  const endUtt = (s: Stream, final: boolean): string => {
    if (!s.inUtt) return '';
    psEndUtt(s.dec);
    s.inUtt = false;
    s.sinceHyp = 0;
    s.lastPartial = '';
    const chunks = s.utt;
    s.utt = null;
    s.uttSamples = 0;
    return final && chunks && chunks.length > 0 ? redecode(s.dec, chunks) : hyp(s.dec);
  };

  send({ t: 'ready' });

  port.on('message', (m: WorkerRequest) => {
    switch (m.t) {
      case 'open': {
        try {
          const dec = free.pop() ?? newDecoder();
          cmn.write(dec, freshCmn);
          psStartStream(dec);
          streams.set(m.id, {
            dec,
            inUtt: false,
            sinceHyp: 0,
            lastPartial: '',
            heard: 0,
            utt: null,
            uttSamples: 0,
          });
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
          s.utt = s.heard < data.warmupSamples ? [] : null;
        }
        psProcessRaw(s.dec, pcm, pcm.length, 0, 0);
        s.heard += pcm.length;
        if (s.utt) {
          s.uttSamples += pcm.length;
          if (s.uttSamples > data.maxRedecodeSamples) s.utt = null;
          else s.utt.push(pcm);
        }
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
        send({ t: 'final', id: m.id, req: m.req, text: s ? endUtt(s, true) : '' });
        return;
      }
      case 'close': {
        const s = streams.get(m.id);
        if (!s) return;
        endUtt(s, false);
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
