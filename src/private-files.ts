import fs from 'node:fs';
import path from 'node:path';

/**
 * Everything agentline keeps on disk (recordings, the embedded database, secret.key, the first API key)
 * is the operator's alone: files 0600, folders 0700. The umask makes new files so; `restrictTree`
 * fixes what was made before it, or by code that sets modes of its own (PGlite writes its initial
 * cluster 0666 whatever the umask).
 */
export const PRIVATE_UMASK = 0o077;

/** Sets the process umask so every file and folder created from now on is private. */
export function restrictUmask(): void {
  try {
    process.umask(PRIVATE_UMASK);
  } catch (err) {
    // Worker threads may not change the umask; the process that started them already did.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_UNSUPPORTED_OPERATION') throw err;
  }
}

/** Creates the folder (and its parents) if needed, and makes it 0700. */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

export interface RestrictResult {
  /** Entries whose mode was tightened. */
  changed: number;
  /** Entries that could not be changed (another owner): their paths, for the log. */
  refused: string[];
}

/**
 * Takes group and other permissions off every file and folder under `dir` (and `dir` itself), keeping
 * the owner's. Symbolic links are not followed: what they point to is not agentline's to change.
 */
export function restrictTree(dir: string): RestrictResult {
  const result: RestrictResult = { changed: 0, refused: [] };
  const visit = (p: string, isDir: boolean) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return; // removed meanwhile
    }
    if (st.isSymbolicLink()) return;
    const wanted = (st.mode & 0o700) | (isDir ? 0o700 : 0);
    if ((st.mode & 0o777) !== wanted) {
      try {
        fs.chmodSync(p, wanted);
        result.changed++;
      } catch {
        result.refused.push(p);
      }
    }
    if (!isDir) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) visit(path.join(p, e.name), e.isDirectory());
  };
  if (fs.existsSync(dir)) visit(dir, true);
  return result;
}
