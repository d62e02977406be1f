import type { Worker } from 'node:worker_threads';
import type { SpeechToText, SttResult, SttStream } from '../types.js';
import { startWorker } from './start-worker.js';
import { createStreamControl, createWriteBacklog } from './stream-control.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

interface WorkerSlot {
  worker: Worker;
  open: number;
  dead?: Error;
  closed: Promise<void>;
  /** The decoder thread's OS thread id, when its worker could read it. */
  tid?: number;
  /** The writes posted to this thread and not yet taken: how far it runs behind the audio. */
  backlog: ReturnType<typeof createWriteBacklog>;
}

const decoderSlots = new WeakMap<SpeechToText, readonly WorkerSlot[]>();

/**
 * The OS thread ids of an engine's decoder threads (empty for an engine that has none, or off
 * Linux): the voice bench reads their CPU time to report what recognition costs.
 */
export function decoderThreadIds(stt: SpeechToText): number[] {
  return (decoderSlots.get(stt) ?? []).flatMap((s) => (s.tid === undefined ? [] : [s.tid]));
}

export interface WorkerSttOptions {
  /** Engine name, also the prefix of its error messages. */
  name: string;
  sampleRate: number;
  /** The worker module (speaks worker-protocol.ts). */
  entry: URL;
  workerData: unknown;
  threads: number;
  /** The worker marks the partial that is an utterance's final text (see SttStream.partialIsFinal). */
  marksFinalPartials?: boolean;
}

/**
 * The main-thread half of an STT engine whose decoders live in worker threads: it spreads streams
 * over the threads (fewest open streams first), keeps each stream's latest partial for the
 * synchronous `partial()`, and turns worker failures into rejected `finish()` calls.
 */
export async function startWorkerStt(opts: WorkerSttOptions): Promise<SpeechToText> {
  const engine = opts.name;
  const SAMPLE_RATE = opts.sampleRate;
  const threads = opts.threads;
  const partials = new Map<number, string>();
  // Streams whose latest partial is their utterance's final text.
  const endedPartials = new Set<number>();
  const pendingFinals = new Map<number, { resolve: (r: SttResult) => void; reject: (e: Error) => void }>();
  const streamErrors = new Map<number, Error>();
  let nextId = 1;
  let nextReq = 1;
  // Closed streams and the shutdown, told to the decoder threads ahead of the audio queued for them;
  // and the writes each thread has taken, told back.
  const control = createStreamControl(threads);

  const spawn = (thread: number): Promise<WorkerSlot> =>
    new Promise((resolve, reject) => {
      const worker = startWorker(opts.entry, {
        ...(opts.workerData as object),
        streamControl: control.buffer,
        streamThread: thread,
      });
      let onClosed!: () => void;
      const slot: WorkerSlot = {
        worker,
        open: 0,
        closed: new Promise((r) => (onClosed = r)),
        backlog: createWriteBacklog(() => control.processed(thread)),
      };
      let ready = false;
      worker.on('message', (m: WorkerReply) => {
        switch (m.t) {
          case 'ready':
            ready = true;
            slot.tid = m.tid;
            resolve(slot);
            return;
          case 'init-error':
            reject(new Error(`${engine}: ${m.message}`));
            void worker.terminate();
            return;
          case 'partial':
            if (!partials.has(m.id)) return;
            partials.set(m.id, m.text);
            if (m.ended) endedPartials.add(m.id);
            else endedPartials.delete(m.id);
            return;
          case 'final': {
            const p = pendingFinals.get(m.req);
            pendingFinals.delete(m.req);
            if (partials.has(m.id)) partials.set(m.id, '');
            endedPartials.delete(m.id);
            p?.resolve({ text: m.text, ...(m.timing ? { timing: m.timing } : {}) });
            return;
          }
          case 'error':
            streamErrors.set(m.id, new Error(m.message));
            return;
          case 'closed':
            return;
        }
      });
      const fail = (err: Error) => {
        slot.dead = err;
        if (!ready) reject(err);
        for (const [req, p] of pendingFinals) {
          pendingFinals.delete(req);
          p.reject(err);
        }
      };
      worker.on('error', (err) => fail(new Error(`${engine} worker failed: ${err.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0 && !slot.dead) fail(new Error(`${engine} worker exited with code ${code}`));
        onClosed();
      });
    });

  const started = await Promise.allSettled(Array.from({ length: threads }, (_, i) => spawn(i)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of started) if (r.status === 'fulfilled') await r.value.worker.terminate();
    throw failed.reason;
  }
  const slots = started.map((r) => (r as PromiseFulfilledResult<WorkerSlot>).value);
  let closed = false;

  const post = (slot: WorkerSlot, m: WorkerRequest, transfer?: ArrayBuffer[]) => {
    if (slot.dead) throw slot.dead;
    slot.worker.postMessage(m, transfer);
  };

  const stt: SpeechToText = {
    name: engine,
    sampleRate: SAMPLE_RATE,
    createStream(): SttStream {
      if (closed) throw new Error(`${engine}: engine is closed`);
      const slot = slots.reduce((a, b) => (b.open < a.open ? b : a));
      const id = nextId++;
      slot.open++;
      partials.set(id, '');
      post(slot, { t: 'open', id });
      let streamClosed = false;
      const check = () => {
        if (streamClosed) throw new Error(`${engine}: stream is closed`);
        const err = streamErrors.get(id) ?? slot.dead;
        if (err) throw err;
      };
      return {
        write(samples: Int16Array): void {
          check();
          if (samples.length === 0) return;
          // A copy the worker can own: the caller may reuse its buffer for the next frame.
          const copy = samples.slice();
          // Noted before it is posted: a thread with nothing to do takes it at once, and a write counted
          // taken before it was noted would stay in the backlog for good.
          if (!slot.dead) slot.backlog.posted();
          post(slot, { t: 'write', id, pcm: copy.buffer as ArrayBuffer }, [copy.buffer as ArrayBuffer]);
        },
        partial(): string {
          return partials.get(id) ?? '';
        },
        ...(opts.marksFinalPartials ? { partialIsFinal: () => endedPartials.has(id) } : {}),
        finish(): Promise<SttResult> {
          try {
            check();
          } catch (err) {
            return Promise.reject(err);
          }
          const req = nextReq++;
          return new Promise<SttResult>((resolve, reject) => {
            pendingFinals.set(req, { resolve, reject });
            post(slot, { t: 'finish', id, req });
          });
        },
        close(): void {
          if (streamClosed) return;
          streamClosed = true;
          partials.delete(id);
          endedPartials.delete(id);
          streamErrors.delete(id);
          slot.open--;
          control.markClosed(id);
          if (!slot.dead && !closed) slot.worker.postMessage({ t: 'close', id } satisfies WorkerRequest);
        },
      };
    },
    backlogMs(): number {
      let oldest = 0;
      for (const slot of slots) if (!slot.dead) oldest = Math.max(oldest, slot.backlog.ageMs());
      return oldest;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // The audio still queued is skipped: the threads reach the shutdown without decoding it.
      control.markShutdown();
      await Promise.all(
        slots.map(async (slot) => {
          if (!slot.dead) slot.worker.postMessage({ t: 'shutdown' } satisfies WorkerRequest);
          await slot.closed;
        }),
      );
    },
  };
  decoderSlots.set(stt, slots);
  return stt;
}
