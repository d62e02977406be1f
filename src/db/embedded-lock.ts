import fs from 'node:fs';
import path from 'node:path';

const LOCK_FILE = 'agentline.pid';

export class EmbeddedLockError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the embedded database at ${dir} is in use by process ${pid}; stop it, or set DATABASE_URL`);
    this.name = 'EmbeddedLockError';
  }
}

/**
 * Takes `dir/agentline.pid` for this process. PGlite has no lock of its own, and two processes writing
 * one data directory corrupt it, so every opener takes this first and releases it after closing.
 * A pid file left by a dead process (or by an earlier process that had the same pid, as after a
 * container restart) is taken over.
 */
export function acquireEmbeddedLock(dir: string): { release(): void } {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const mine = stamp(process.pid);

  // A few rounds: another process may take over the same stale file between our read and our write.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx', mode: 0o644 });
      return { release: () => releaseIfMine(file, mine) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder && isLive(holder)) throw new EmbeddedLockError(dir, holder.pid);
    try {
      fs.unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const holder = readHolder(file);
  throw new EmbeddedLockError(dir, holder?.pid ?? -1);
}

/** "<pid> <start time>": the start time tells a live holder from a new process that reuses its pid. */
function stamp(pid: number): string {
  return `${pid} ${startTicks(pid) ?? '-'}\n`;
}

function readHolder(file: string): { pid: number; start: string | null } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const [pidText, start] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  // An empty or garbled file is what a crash during the write leaves: nobody holds it.
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return { pid, start: start && start !== '-' ? start : null };
}

function isLive(holder: { pid: number; start: string | null }): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user; it still holds the directory.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.start === null) return true;
  const now = startTicks(holder.pid);
  return now === null || now === holder.start;
}

/** Start time of a process in clock ticks since boot (Linux /proc); null where there is no /proc. */
function startTicks(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may contain spaces; fields after it are fixed, starttime is the 20th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function releaseIfMine(file: string, mine: string): void {
  try {
    if (fs.readFileSync(file, 'utf8') === mine) fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
