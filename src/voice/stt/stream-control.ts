/**
 * What the main thread tells its decoder threads ahead of their message queue: which streams are
 * closed and whether the engine is shutting down. A decoder thread that falls behind (a loaded
 * machine) has a backlog of audio in its queue; decoding the audio of a stream already closed only
 * delays the live calls' audio behind it, and at shutdown it held `close()` (and the process's exit)
 * for as long as the whole backlog took. Messages are ordered, so only shared memory can overtake them.
 */

/** Closed stream ids are kept in a ring of this many slots (id modulo the size); far more than streams open at once. */
const CLOSED_SLOTS = 4096;
const SHUTDOWN = 0;

const slotOf = (id: number) => 1 + (id % CLOSED_SLOTS);

/** The main thread's side: it marks, the decoder threads read (workerData carries `buffer`). */
export interface StreamControl {
  readonly buffer: SharedArrayBuffer;
  markClosed(id: number): void;
  markShutdown(): void;
}

export function createStreamControl(): StreamControl {
  const buffer = new SharedArrayBuffer(4 * (1 + CLOSED_SLOTS));
  const cells = new Int32Array(buffer);
  return {
    buffer,
    markClosed: (id) => void Atomics.store(cells, slotOf(id), id),
    markShutdown: () => void Atomics.store(cells, SHUTDOWN, 1),
  };
}

/**
 * The decoder thread's side: whether the audio of stream `id` still matters. A slot is reused only
 * 4096 ids later, long after its stream ended; a reused slot means a little audio decoded for nothing.
 */
export function readStreamControl(buffer: SharedArrayBuffer | undefined): {
  skip(id: number): boolean;
  shuttingDown(): boolean;
} {
  if (!buffer) return { skip: () => false, shuttingDown: () => false };
  const cells = new Int32Array(buffer);
  const shuttingDown = () => Atomics.load(cells, SHUTDOWN) === 1;
  return {
    skip: (id) => shuttingDown() || Atomics.load(cells, slotOf(id)) === id,
    shuttingDown,
  };
}
