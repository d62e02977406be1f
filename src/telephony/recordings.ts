import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../calls/status.js';
import type { Db } from '../db/client.js';
import { calls } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { type AriClient, AriError } from './ari/client.js';

export interface RecordingSweeperDeps {
  db: Db;
  /** RECORDINGS_DIR. */
  dir: string;
  /** RECORDINGS_RETENTION_DAYS. */
  retentionDays: number;
  logger: Logger;
  clock?: () => Date;
  /** How often the sweep runs once started; hourly by default. */
  intervalMs?: number;
}

export interface RecordingSweeper {
  /** Deletes recordings older than the retention and clears `recording_file` on their calls. */
  sweep(): Promise<{ deleted: string[] }>;
  start(): void;
  stop(): Promise<void>;
}

/** Only files the controller writes (`<call uuid>.wav`) are ever deleted. */
const RECORDING_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.wav$/i;

/** Retention of call recordings: old files go, and the calls stop pointing at them. */
export function createRecordingSweeper(deps: RecordingSweeperDeps): RecordingSweeper {
  const clock = deps.clock ?? (() => new Date());
  const intervalMs = deps.intervalMs ?? 3_600_000;
  const log = deps.logger.child({ component: 'recording-sweeper' });
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<unknown> | null = null;

  async function sweep(): Promise<{ deleted: string[] }> {
    const cutoff = clock().getTime() - deps.retentionDays * 86_400_000;
    let names: string[];
    try {
      names = await fs.readdir(deps.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { deleted: [] };
      throw err;
    }
    const old: { file: string; callId: string }[] = [];
    for (const file of names) {
      const m = RECORDING_FILE.exec(file);
      if (!m) continue;
      const stat = await fs.stat(path.join(deps.dir, file)).catch(() => null);
      if (stat?.isFile() && stat.mtimeMs < cutoff) old.push({ file, callId: m[1].toLowerCase() });
    }
    if (old.length === 0) return { deleted: [] };
    // The calls stop pointing at the files first, so the API never links to a file that is gone.
    await deps.db
      .update(calls)
      .set({ recordingFile: null })
      .where(
        inArray(
          calls.id,
          old.map((o) => o.callId),
        ),
      );
    const deleted: string[] = [];
    for (const o of old) {
      try {
        await fs.unlink(path.join(deps.dir, o.file));
        deleted.push(o.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          log.warn({ err, file: o.file }, 'could not delete');
      }
    }
    log.info({ deleted: deleted.length }, 'old recordings deleted');
    return { deleted };
  }

  const tick = () => {
    if (inFlight) return;
    inFlight = sweep()
      .catch((err) => log.error({ err }, 'recording sweep failed'))
      .finally(() => {
        inFlight = null;
      });
  };

  return {
    sweep,
    start() {
      if (timer) return;
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await inFlight;
    },
  };
}

/** What the recovery needs of the ARI client. */
export type RecoveryAri = Pick<
  AriClient,
  | 'connected'
  | 'onConnectionChange'
  | 'getStoredRecordingFile'
  | 'deleteStoredRecording'
  | 'stopLiveRecording'
>;

export interface PbxRecordingRecoveryDeps {
  db: Db;
  ari: RecoveryAri;
  /** RECORDINGS_DIR. */
  dir: string;
  logger: Logger;
  clock?: () => Date;
  /**
   * A recording this PBX does not have (404) may be on another worker's PBX; its call stops waiting
   * for it once the call ended this long ago (a day by default).
   */
  giveUpAfterMs?: number;
  /**
   * How often a pass runs besides the reconnects (a minute by default): a call whose worker died
   * (failed/worker_lost) is ended by another worker at any time, with its recording still on the PBX.
   */
  intervalMs?: number;
}

export interface PbxRecordingRecovery {
  /**
   * The call's recording could not be fetched from the PBX when the call ended (it was down or
   * restarting): it stays there under `name`, stored on the call (`pbx_recording`) and fetched after
   * the reconnect. Returns at once.
   */
  remember(callId: string, name: string): void;
  /**
   * The call started recording on the PBX as `name`: noted on the call (`pbx_recording`) from now on,
   * so that if its worker dies the call's recording is still found there, fetched and deleted once
   * the call has ended (failed/worker_lost). Returns at once.
   */
  started(callId: string, name: string): void;
  /** The call's recording is off the PBX (fetched and deleted, or never made): the note goes. */
  settled(callId: string, name: string): void;
  /** Fetches, stores and deletes on the PBX every recording still waiting there; one pass at a time. */
  recover(): Promise<{ recovered: string[] }>;
  /** A pass now and after every reconnect of the ARI events socket. */
  start(): void;
  stop(): Promise<void>;
}

/** At most this many calls a pass (the rest wait for the next reconnect). */
const RECOVERY_BATCH = 100;
/** Tries at deleting a recovered recording on the PBX within one pass. */
const DELETE_TRIES = 3;

/**
 * Recordings left on the PBX. A call cut by a PBX restart ends at once, but its WAV stays in
 * Asterisk's recordings folder, where nothing would ever fetch or delete it; so does the recording of
 * a call whose worker died (the call ends failed/worker_lost, ended by another worker). Every call
 * notes its recording's name (`calls.pbx_recording`) while it is on the PBX; after each reconnect, and
 * every `intervalMs`, the recordings of ended calls still noted are fetched, stored as `<callId>.wav`
 * (unless the call was canceled: then only deleted) and deleted on the PBX. A recording still running
 * (a dead worker's call whose callee is still on the line) is stopped first and fetched on a later pass.
 */
export function createPbxRecordingRecovery(deps: PbxRecordingRecoveryDeps): PbxRecordingRecovery {
  const clock = deps.clock ?? (() => new Date());
  const giveUpAfterMs = deps.giveUpAfterMs ?? 86_400_000;
  const log = deps.logger.child({ component: 'pbx-recordings' });
  /** Also kept here, so a database that refused the note does not lose the recording meanwhile. */
  const waiting = new Map<string, string>();
  let inFlight: Promise<{ recovered: string[] }> | null = null;
  let again = false;
  let stopped = false;
  let off: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  const intervalMs = deps.intervalMs ?? 60_000;
  const writes = new Set<Promise<unknown>>();
  /** Each call's notes are written in order (a `settled` never overtaken by its `started`). */
  const lastWrite = new Map<string, Promise<unknown>>();
  const inOrder = (callId: string, write: () => Promise<unknown>) => {
    const p = (lastWrite.get(callId) ?? Promise.resolve()).then(write, write);
    lastWrite.set(callId, p);
    track(p);
    p.finally(() => {
      if (lastWrite.get(callId) === p) lastWrite.delete(callId);
    }).catch(() => {});
  };

  const track = (p: Promise<unknown>) => {
    writes.add(p);
    p.finally(() => writes.delete(p)).catch(() => {});
  };

  async function pass(): Promise<{ recovered: string[] }> {
    const rows = await deps.db
      .select({
        id: calls.id,
        name: calls.pbxRecording,
        endedReason: calls.endedReason,
        endedAt: calls.endedAt,
      })
      .from(calls)
      // Only ended calls: a live call's recording is its controller's to fetch.
      .where(and(isNotNull(calls.pbxRecording), inArray(calls.status, [...TERMINAL_STATUSES])))
      .limit(RECOVERY_BATCH);
    const todo = new Map(rows.map((r) => [r.id, r]));
    for (const [id, name] of waiting) {
      if (!todo.has(id)) todo.set(id, { id, name, endedReason: null, endedAt: null });
    }
    const recovered: string[] = [];
    for (const row of todo.values()) {
      if (stopped || !deps.ari.connected) break;
      const name = row.name as string;
      // A dead worker's call may still be recording (its bridge lives on while the callee is on the
      // line): stopped now, its file is complete by the next pass. 404: not recording, as expected.
      try {
        await deps.ari.stopLiveRecording(name);
        log.info(
          { callId: row.id, name },
          'stopped the recording of an ended call; fetched on the next pass',
        );
        continue;
      } catch (err) {
        if (!(err instanceof AriError && err.status === 404)) {
          log.warn({ err, callId: row.id }, 'could not check a recording left on the PBX; retrying later');
          break;
        }
      }
      let wav: Buffer;
      try {
        wav = await deps.ari.getStoredRecordingFile(name);
      } catch (err) {
        if (err instanceof AriError && err.status === 404) {
          waiting.delete(row.id);
          const endedAt = row.endedAt?.getTime() ?? clock().getTime();
          if (clock().getTime() - endedAt > giveUpAfterMs) {
            log.warn({ callId: row.id, name }, 'a recording left on the PBX is not there; giving it up');
            await forget(row.id, name);
          }
          continue;
        }
        // The PBX is away again: the rest waits for the next reconnect.
        log.warn(
          { err, callId: row.id },
          'could not fetch a recording left on the PBX; retrying after the next reconnect',
        );
        break;
      }
      // A canceled call keeps no recording; the PBX's copy goes all the same.
      const keep = row.endedReason !== 'canceled';
      const file = `${row.id}.wav`;
      if (keep) {
        await fs.mkdir(deps.dir, { recursive: true });
        await fs.writeFile(path.join(deps.dir, file), wav);
        await deps.db.update(calls).set({ recordingFile: file }).where(eq(calls.id, row.id));
      }
      // Only once the PBX's copy is gone does the call stop pointing at it; a refused delete (a 5xx)
      // leaves it for the next pass, which fetches the same file again and retries.
      if (!(await deleteOnPbx(row.id, name))) continue;
      await forget(row.id, name);
      waiting.delete(row.id);
      log.info({ callId: row.id, stored: keep }, 'recording left on the PBX recovered');
      if (keep) recovered.push(row.id);
    }
    return { recovered };
  }

  /** True once the PBX no longer has `name` (deleted, or 404); a few quick tries, as a 5xx may pass. */
  async function deleteOnPbx(callId: string, name: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.ari.deleteStoredRecording(name);
        return true;
      } catch (err) {
        if (err instanceof AriError && err.status === 404) return true;
        if (attempt >= DELETE_TRIES - 1 || stopped) {
          log.warn({ err, callId }, 'could not delete a recovered recording on the PBX; retrying later');
          return false;
        }
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }

  async function forget(callId: string, name: string): Promise<void> {
    await deps.db
      .update(calls)
      .set({ pbxRecording: null })
      .where(and(eq(calls.id, callId), eq(calls.pbxRecording, name)));
  }

  function recover(): Promise<{ recovered: string[] }> {
    if (inFlight) {
      // A reconnect during a pass: run once more after it, for what the pass may have missed.
      again = true;
      return inFlight;
    }
    inFlight = pass().finally(() => {
      inFlight = null;
      if (again && !stopped) {
        again = false;
        void kick();
      }
    });
    return inFlight;
  }

  const kick = () =>
    recover().catch((err) => log.error({ err }, 'recovering recordings left on the PBX failed'));

  return {
    remember(callId, name) {
      if (stopped) return;
      waiting.set(callId, name);
      inOrder(callId, () =>
        deps.db
          .update(calls)
          .set({ pbxRecording: name })
          .where(eq(calls.id, callId))
          .catch((err) =>
            log.warn({ err, callId }, 'could not note the recording left on the PBX; kept in memory'),
          )
          // The PBX may be back already (the pass of its reconnect may have run before this).
          .then(() => {
            if (off && !stopped && deps.ari.connected) void kick();
          }),
      );
    },
    started(callId, name) {
      if (stopped) return;
      inOrder(callId, () =>
        deps.db
          .update(calls)
          .set({ pbxRecording: name })
          .where(eq(calls.id, callId))
          .catch((err) => log.warn({ err, callId }, 'could not note the recording on the call')),
      );
    },
    settled(callId, name) {
      waiting.delete(callId);
      if (stopped) return;
      inOrder(callId, () =>
        forget(callId, name).catch((err) => log.warn({ err, callId }, 'could not clear the recording note')),
      );
    },
    recover,
    start() {
      if (off || stopped) return;
      off = deps.ari.onConnectionChange((up) => {
        if (up) void kick();
      });
      if (deps.ari.connected) void kick();
      timer = setInterval(() => {
        if (deps.ari.connected) void kick();
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      off?.();
      off = null;
      await Promise.allSettled([inFlight, ...writes]);
    },
  };
}
