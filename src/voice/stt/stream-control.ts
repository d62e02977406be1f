import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

/**
 * What the main thread tells its decoder threads ahead of their message queue: which streams are
 * closed and whether the engine is shutting down; and what each thread tells back: how many writes it
 * has taken off its queue, so the main thread knows how far behind its audio the recogniser runs. A decoder thread that falls behind (a loaded
 * machine) has a backlog of audio in its queue; decoding the audio of a stream already closed only
 * delays the live calls' audio behind it, and at shutdown it held `close()` (and the process's exit)
 * for as long as the whole backlog took. Messages are ordered, so only shared memory can overtake them.
 */

/** Closed stream ids are kept in a ring of this many slots (id modulo the size); far more than streams open at once. */
const CLOSED_SLOTS = 4096;
const SHUTDOWN = 0;

const slotOf = (id: number) => 1 + (id % CLOSED_SLOTS);
/** The cell where decoder thread `thread` counts the writes it has taken (wrapping at 2^32). */
const processedCell = (thread: number) => 1 + CLOSED_SLOTS + thread;

/** The main thread's side: it marks, the decoder threads read (workerData carries `buffer`). */
export interface StreamControl {
  readonly buffer: SharedArrayBuffer;
  markClosed(id: number): void;
  markShutdown(): void;
  /** Writes decoder thread `thread` has taken off its queue so far (an int32 counter that wraps). */
  processed(thread: number): number;
}

export function createStreamControl(threads: number): StreamControl {
  const buffer = new SharedArrayBuffer(4 * (1 + CLOSED_SLOTS + threads));
  const cells = new Int32Array(buffer);
  return {
    buffer,
    markClosed: (id) => void Atomics.store(cells, slotOf(id), id),
    markShutdown: () => void Atomics.store(cells, SHUTDOWN, 1),
    processed: (thread) => Atomics.load(cells, processedCell(thread)),
  };
}

/**
 * The decoder thread's side: whether the audio of stream `id` still matters. A slot is reused only
 * 4096 ids later, long after its stream ended; a reused slot means a little audio decoded for nothing.
 */
export function readStreamControl(
  buffer: SharedArrayBuffer | undefined,
  thread: number | undefined,
): {
  skip(id: number): boolean;
  shuttingDown(): boolean;
  /** Counts one write taken off the queue, decoded or skipped. */
  tookWrite(): void;
} {
  if (!buffer) return { skip: () => false, shuttingDown: () => false, tookWrite: () => {} };
  const cells = new Int32Array(buffer);
  const shuttingDown = () => Atomics.load(cells, SHUTDOWN) === 1;
  const cell = processedCell(thread ?? 0);
  return {
    skip: (id) => shuttingDown() || Atomics.load(cells, slotOf(id)) === id,
    shuttingDown,
    tookWrite: () => void Atomics.add(cells, cell, 1),
  };
}

/**
 * A decoder thread's first look at each request (both engines' workers call it): counts writes, and
 * settles what the control makes moot. True when the request needs nothing more: a write of a closed
 * stream or during shutdown (dropped), an open during shutdown (ignored), a finish during shutdown
 * (answered with no words).
 */
export function settledByControl(
  control: ReturnType<typeof readStreamControl>,
  m: WorkerRequest,
  send: (reply: WorkerReply) => void,
): boolean {
  if (m.t === 'write') {
    control.tookWrite();
    return control.skip(m.id);
  }
  if (!control.shuttingDown()) return false;
  if (m.t === 'open') return true;
  if (m.t === 'finish') {
    send({ t: 'final', id: m.id, req: m.req, text: '' });
    return true;
  }
  return false;
}

/**
 * The main thread's record of the writes it posted to one decoder thread and not yet seen taken: how
 * long the oldest of them has waited is how far the recogniser runs behind the call's audio.
 */
export function createWriteBacklog(processed: () => number, now: () => number = () => performance.now()) {
  // Times of the writes noted; those before `head` are taken. Called for every audio frame, so taken
  // ones are cut off in one go only once they are most of the array, not one splice per frame.
  const postedAt: number[] = [];
  let head = 0;
  let seen = processed();
  const trim = () => {
    const p = processed();
    // Wrap-safe: the counter is an int32 that overflows after 2^31 writes (days of calls).
    const taken = (p - seen) | 0;
    seen = p;
    if (taken > 0) head = Math.min(postedAt.length, head + taken);
    if (head > 1024 && head * 2 > postedAt.length) {
      postedAt.splice(0, head);
      head = 0;
    }
  };
  return {
    /** Notes a write; call it before the write is posted, or a thread quick to take it outruns the note. */
    posted(): void {
      trim();
      postedAt.push(now());
    },
    /** ms the oldest write not yet taken has waited; 0 when the thread has taken every write. */
    ageMs(): number {
      trim();
      return head >= postedAt.length ? 0 : Math.max(0, now() - postedAt[head]);
    },
  };
}
