import fs from 'node:fs/promises';
import path from 'node:path';
import { inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { calls } from '../db/schema.js';
import type { Logger } from '../logger.js';

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
