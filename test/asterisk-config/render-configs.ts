import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type ConfDirective, type ConfSection, parseAsteriskConfig } from './asterisk-ini.js';

/** Where the project's files are mounted in the Asterisk container (docker-compose.yml). */
export const ASTERISK_CONFIG_DIR = '/etc/asterisk';

export interface ExecRun {
  /** The `#exec` argument as written in the config. */
  command: string;
  script: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RenderedConfigs {
  /** Every `*.conf` in the directory, parsed with its includes and `#exec` output, by file name. */
  files: Map<string, ConfSection[]>;
  execs: ExecRun[];
}

/**
 * Loads every config in `dir` as Asterisk would from /etc/asterisk, running each `#exec` script the way
 * Asterisk does (its stdout becomes config text) with only `env` (plus PATH) as its environment, like a
 * container that gets its variables from compose.
 */
export function renderAsteriskConfigs(dir: string, env: Record<string, string>): RenderedConfigs {
  const execs: ExecRun[] = [];
  const resolve = (d: ConfDirective) => {
    const file = localPath(dir, d.target);
    if (d.kind !== 'exec')
      return existsSync(file) ? { name: d.target, text: readFileSync(file, 'utf8') } : null;
    if (!existsSync(file)) return null;
    const run = spawnSync(file, [], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      encoding: 'utf8',
    });
    execs.push({
      command: d.target,
      script: path.basename(file),
      status: run.error ? null : run.status,
      stdout: run.stdout ?? '',
      stderr: run.error ? String(run.error) : (run.stderr ?? ''),
    });
    return { name: `#exec ${d.target}`, text: run.stdout ?? '' };
  };
  const files = new Map<string, ConfSection[]>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.conf'))) {
    files.set(name, parseAsteriskConfig(readFileSync(path.join(dir, name), 'utf8'), name, resolve));
  }
  return { files, execs };
}

/** The project file behind a path as the container sees it (absolute under /etc/asterisk, or relative to it). */
export function localPath(dir: string, target: string): string {
  const rel = path.posix.isAbsolute(target) ? path.posix.relative(ASTERISK_CONFIG_DIR, target) : target;
  if (rel.startsWith('..') || path.posix.isAbsolute(rel)) {
    throw new Error(`${target} is outside ${ASTERISK_CONFIG_DIR}, where the project's files are mounted`);
  }
  return path.join(dir, rel);
}
