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
 * first utterance the worst one; until a stream has heard `warmupSamples`, an utterance is therefore
 * decoded again with a mean learnt from its own audio.
 *
 * Run after the endpoint, that second pass cost about a second of every early final, and even a
 * warm final paid for pocketsphinx's end-of-utterance searches (fwdflat, best path) after it. Both
 * now run in the silence that the listener waits out before it asks for the final. After
 * `pauseSamples` of quiet following loud audio, a cold utterance restarts its decode from its start
 * with the mean of all audio heard so far; after `endSamples`, any utterance is decoded to its end
 * and its text held for the finish. Loud audio after that was a pause within the utterance: it is
 * decoded again from its start and goes on. One that reaches `warmupSamples` while loud restarts
 * there and needs no second pass; a finish that comes before any pause decodes as it always did.
 * The text decoded to its end is also sent as a partial: the conversation agent starts its early
 * reply from the partial it has 150 ms into the pause, and keeps that reply only if the final has
 * the same words, so `endSamples` sits at that point (see `endAfterMs` in pocketsphinx.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { createDecodeTiming } from './decode-timing.js';
import { bindCmn, type CmnState } from './pocketsphinx-cmn.js';
import { readStreamControl, settledByControl } from './stream-control.js';
import { osThreadId } from './thread-id.js';
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
  /** Quiet after loud audio that restarts a cold utterance's decode (0: its second pass after the finish). */
  pauseSamples: number;
  /** Quiet after loud audio after which an utterance is decoded to its end before the finish (0: at the finish). */
  endSamples: number;
  /** pocketsphinx's flat-lexicon search over the whole utterance at its end (-fwdflat). */
  fwdflat: boolean;
  /** pocketsphinx's best-path search of the word lattice at the utterance's end (-bestpath). */
  bestpath: boolean;
  /** Further pocketsphinx search settings as flag → value (e.g. `-maxhmmpf` → `3000`); see PocketsphinxOptions.search. */
  search: Record<string, string>;
  /** Closed streams and the shutdown, ahead of the queue (stream-control.ts); set by worker-stt.ts. */
  streamControl?: SharedArrayBuffer;
  /** This thread's index among the engine's decoder threads, where it counts the writes it took. */
  streamThread?: number;
}

const data = workerData as PocketsphinxWorkerData;
const control = readStreamControl(data.streamControl, data.streamThread);
const port = parentPort!;
const send = (m: WorkerReply) => port.postMessage(m);

/** The utterance a stream is in, with what decoding it again needs. */
interface Utterance {
  /** Its audio, kept to decode it again (restart, resume, second pass) up to maxRedecodeSamples, else null. */
  chunks: Int16Array[] | null;
  samples: number;
  /** CMN state before it: decoding it again counts its frames from there, once. */
  base: CmnState;
  /** The mean its decode subtracts. */
  mean: number[];
  /** Its decode may still use an unadapted mean (the stream had heard less than warmupSamples). */
  cold: boolean;
  /** Samples of it that the mean was learnt from. */
  meanFrom: number;
  /** Mean square of its quietest (digital silence aside) and loudest chunk. */
  minPower: number;
  maxPower: number;
  /** Its samples up to the end of its last loud chunk. */
  lastLoud: number;
  restarts: number;
  /** Times loud audio went on after it had been decoded to its end. */
  resumes: number;
  /** Decoded to its end in a pause (the decoder is between utterances): the text, until it resumes. */
  ended: string | null;
}

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
    '-fwdflat',
    'str',
    data.fwdflat ? 'yes' : 'no',
    'str',
    '-bestpath',
    'str',
    data.bestpath ? 'yes' : 'no',
    'str',
    '-logfn',
    'str',
    '/dev/null',
    ...Object.entries(data.search).flatMap(([flag, value]) => ['str', flag, 'str', value]),
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
    utt: Utterance | null;
    sinceHyp: number;
    lastPartial: string;
    /** Samples this stream has fed, to tell when its CMN has adapted to the line. */
    heard: number;
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
  /** Decodes the utterance again from its start, normalised by `mean`. */
  const replay = (s: Stream, u: Utterance, chunks: Int16Array[], mean: number[]): void => {
    // Restoring the accumulator from before the utterance makes the replay count its frames once.
    cmn.write(s.dec, { mean, sum: u.base.sum, nframe: u.base.nframe });
    psStartUtt(s.dec);
    for (const c of chunks) psProcessRaw(s.dec, c, c.length, 0, 0);
    u.mean = mean;
  };
  const sendPartial = (s: Stream, id: number, text: string, ended = false): void => {
    s.sinceHyp = 0;
    // The end of the utterance is news even when its words are not.
    if (text === s.lastPartial && !ended) return;
    s.lastPartial = text;
    send(ended ? { t: 'partial', id, text, ended } : { t: 'partial', id, text });
  };
  const endUtt = (
    s: Stream,
    final: boolean,
  ): { text: string; restarts: number; resumes: number; secondPass: boolean; endedInPause: boolean } => {
    const u = s.utt;
    s.utt = null;
    s.sinceHyp = 0;
    s.lastPartial = '';
    if (!u) return { text: '', restarts: 0, resumes: 0, secondPass: false, endedInPause: false };
    if (u.ended !== null)
      return {
        text: u.ended,
        restarts: u.restarts,
        resumes: u.resumes,
        secondPass: false,
        endedInPause: true,
      };
    psEndUtt(s.dec);
    const again = final && u.cold && u.chunks !== null && u.chunks.length > 0 && u.meanFrom < u.lastLoud;
    return {
      text: again && u.chunks ? redecode(s.dec, u.chunks) : hyp(s.dec),
      restarts: u.restarts,
      resumes: u.resumes,
      secondPass: again,
      endedInPause: false,
    };
  };
  const write = (s: Stream, id: number, pcm: Int16Array): void => {
    let u = s.utt;
    if (!u) {
      psStartUtt(s.dec);
      const base = cmn.read(s.dec);
      u = s.utt = {
        chunks: [],
        samples: 0,
        base,
        mean: base.mean,
        cold: s.heard < data.warmupSamples,
        meanFrom: 0,
        minPower: Number.POSITIVE_INFINITY,
        maxPower: 0,
        lastLoud: 0,
        restarts: 0,
        resumes: 0,
        ended: null,
      };
    }
    s.heard += pcm.length;
    u.samples += pcm.length;
    const kept = u.chunks !== null && u.samples <= data.maxRedecodeSamples;
    if (kept) u.chunks?.push(pcm);
    const power = meanSquare(pcm);
    // Digital silence (a muted line, comfort noise off) is quiet, and not the floor of the range.
    const silent = power < DIGITAL_SILENCE;
    if (!silent) u.minPower = Math.min(u.minPower, power);
    u.maxPower = Math.max(u.maxPower, power);
    // Loud: above the lower third, in dB, of the utterance's range; with under 20 dB in it (no pause
    // yet, or a noisy line) everything is, and the utterance is decoded at the finish as it always was.
    const loud = !silent && (u.maxPower < 100 * u.minPower || power ** 3 >= u.minPower ** 2 * u.maxPower);
    if (loud) u.lastLoud = u.samples;

    if (u.ended !== null && u.chunks) {
      // Quiet after the utterance was decoded to its end: nothing to decode. Loud: it goes on.
      if (!loud) return;
      u.ended = null;
      u.resumes++;
      // A partial right away, so that the previous one stops counting as the final text.
      s.lastPartial = '';
      s.sinceHyp = data.partialEverySamples;
      replay(s, u, u.chunks, u.mean);
      if (!kept) psProcessRaw(s.dec, pcm, pcm.length, 0, 0);
    } else {
      psProcessRaw(s.dec, pcm, pcm.length, 0, 0);
    }
    // Too long to decode again: one pass from here on.
    if (!kept) u.chunks = null;

    if (u.chunks) {
      const quietFor = u.samples - u.lastLoud;
      const warm = s.heard >= data.warmupSamples;
      const paused = data.pauseSamples > 0 && quietFor >= data.pauseSamples;
      const restart = data.pauseSamples > 0 && (paused || (warm && loud));
      if (u.cold && restart && u.meanFrom < u.lastLoud) {
        // ps_end_utt sets the live mean to that of all audio heard (the stream's earlier
        // utterances and this one so far): decode the utterance again with it.
        psEndUtt(s.dec);
        replay(s, u, u.chunks, cmn.read(s.dec).mean);
        u.meanFrom = u.samples;
        u.restarts++;
        // Learnt from a warm-up's worth of audio: no second pass from here on.
        if (warm) u.cold = false;
        s.sinceHyp = data.partialEverySamples;
      }
      if (data.endSamples > 0 && quietFor >= data.endSamples && !(u.cold && u.meanFrom < u.lastLoud)) {
        psEndUtt(s.dec);
        u.ended = hyp(s.dec);
        sendPartial(s, id, u.ended, true);
        return;
      }
    }

    s.sinceHyp += pcm.length;
    // The speaker just went quiet: a partial of every word so far now, not up to 250 ms of audio
    // later, so that whatever is prepared from it in the pause has their last words.
    const quietFor = u.samples - u.lastLoud;
    const wentQuiet = quietFor >= QUIET_PARTIAL_SAMPLES && quietFor - pcm.length < QUIET_PARTIAL_SAMPLES;
    if (s.sinceHyp >= data.partialEverySamples || wentQuiet) sendPartial(s, id, hyp(s.dec));
  };

  // The engine runs at 16 kHz only (see pocketsphinx.ts).
  const timing = createDecodeTiming(16_000);
  send({ t: 'ready', tid: osThreadId() });

  port.on('message', (m: WorkerRequest) => {
    // A closed stream's audio, and everything once shutting down, is not decoded (stream-control.ts).
    if (settledByControl(control, m, send)) return;
    switch (m.t) {
      case 'open': {
        try {
          const dec = free.pop() ?? newDecoder();
          cmn.write(dec, freshCmn);
          psStartStream(dec);
          streams.set(m.id, { dec, utt: null, sinceHyp: 0, lastPartial: '', heard: 0 });
        } catch (err) {
          send({ t: 'error', id: m.id, message: (err as Error).message });
        }
        return;
      }
      case 'write': {
        const s = streams.get(m.id);
        if (s) {
          const pcm = new Int16Array(m.pcm);
          timing.time(m.id, pcm.length, () => write(s, m.id, pcm));
        }
        return;
      }
      case 'finish': {
        const s = streams.get(m.id);
        const result = s ? timing.time(m.id, 0, () => endUtt(s, true)) : { text: '' };
        send({ t: 'final', id: m.id, req: m.req, ...result, timing: timing.take(m.id) });
        return;
      }
      case 'close': {
        const s = streams.get(m.id);
        if (!s) return;
        endUtt(s, false);
        streams.delete(m.id);
        timing.forget(m.id);
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

/** Mean square below which a chunk is digital silence (samples within about ±2). */
const DIGITAL_SILENCE = 4;

function meanSquare(pcm: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return pcm.length > 0 ? sum / pcm.length : 0;
}

try {
  main();
} catch (err) {
  send({ t: 'init-error', message: (err as Error).message });
}

/** Quiet after loud audio (64 ms at 16 kHz) that sends a partial at once. */
const QUIET_PARTIAL_SAMPLES = 1024;
