import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireEmbeddedLock, EmbeddedLockError } from '../../src/db/embedded-lock.js';
import { runAgentline } from './run-agentline.js';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-lock-'));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

const pidFile = () => path.join(dir, 'agentline.pid');

/** A process that stays alive until the test ends. */
function liveProcess(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

function startTicks(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

describe('acquireEmbeddedLock', () => {
  it('writes the pid file, refuses a second holder, and frees it on release', () => {
    const lock = acquireEmbeddedLock(dir);
    expect(fs.readFileSync(pidFile(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    expect(() => acquireEmbeddedLock(dir)).toThrow(EmbeddedLockError);
    lock.release();
    expect(fs.existsSync(pidFile())).toBe(false);
    acquireEmbeddedLock(dir).release();
  });

  it('creates the directory it locks', () => {
    const nested = path.join(dir, 'a', 'db');
    const lock = acquireEmbeddedLock(nested);
    expect(fs.existsSync(path.join(nested, 'agentline.pid'))).toBe(true);
    lock.release();
  });

  it('refuses while another live process holds the directory, naming it', async () => {
    const other = liveProcess();
    await new Promise((r) => other.on('spawn', r));
    fs.writeFileSync(pidFile(), `${other.pid} ${startTicks(other.pid!)}\n`);
    expect(() => acquireEmbeddedLock(dir)).toThrow(
      `the embedded database at ${dir} is in use by process ${other.pid}; stop it, or set DATABASE_URL`,
    );
    // Still theirs.
    expect(fs.readFileSync(pidFile(), 'utf8')).toMatch(new RegExp(`^${other.pid} `));
  });

  it('takes over the pid file of a dead process, a reused pid, and a garbled file', async () => {
    fs.writeFileSync(pidFile(), `${await deadPid()} 12345\n`);
    acquireEmbeddedLock(dir).release();

    // A live process, but not the one that wrote the file: its start time differs (pid reuse).
    const other = liveProcess();
    await new Promise((r) => other.on('spawn', r));
    fs.writeFileSync(pidFile(), `${other.pid} 1\n`);
    const lock = acquireEmbeddedLock(dir);
    expect(fs.readFileSync(pidFile(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    lock.release();

    fs.writeFileSync(pidFile(), '');
    acquireEmbeddedLock(dir).release();
  });

  it('release leaves a file that is no longer its own', () => {
    const lock = acquireEmbeddedLock(dir);
    fs.writeFileSync(pidFile(), '999999 1\n');
    lock.release();
    expect(fs.readFileSync(pidFile(), 'utf8')).toBe('999999 1\n');
  });
});

describe('the CLI and the embedded lock', { timeout: 120_000 }, () => {
  it('refuses to open the embedded database another process holds, and works once it is free', async () => {
    const env = { DATA_DIR: dir, LOG_LEVEL: 'silent' };
    const lock = acquireEmbeddedLock(path.join(dir, 'db'));
    const refused = await runAgentline(['accounts', 'list', '--json'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(
      `the embedded database at ${path.join(dir, 'db')} is in use by process ${process.pid}; stop it, or set DATABASE_URL`,
    );
    lock.release();

    const ok = await runAgentline(['accounts', 'create', '--name', 'after', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    // The CLI gave the directory back when it finished.
    expect(fs.existsSync(path.join(dir, 'db', 'agentline.pid'))).toBe(false);
    const listed = await runAgentline(['accounts', 'list', '--json'], env);
    expect(JSON.parse(listed.stdout).accounts).toEqual([expect.objectContaining({ name: 'after' })]);
  });
});
