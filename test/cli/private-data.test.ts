import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runAgentline } from './run-agentline.js';

/** Every entry under `dir` with its permission bits, symbolic links left out. */
function modes(dir: string): { path: string; dir: boolean; mode: number }[] {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    out.push({ path: p, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
  return out;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.on('close', r));
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('files under DATA_DIR', { timeout: 180_000 }, () => {
  it('are 0600 and folders 0700 after a start on the embedded database, including older loose ones', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-private-'));
    dirs.push(dataDir);
    // Left by an earlier version, under this test's looser umask.
    fs.mkdirSync(path.join(dataDir, 'recordings'), { mode: 0o755 });
    fs.writeFileSync(path.join(dataDir, 'recordings', 'old.wav'), 'RIFF', { mode: 0o644 });
    fs.chmodSync(path.join(dataDir, 'recordings'), 0o755);
    expect(fs.statSync(path.join(dataDir, 'recordings', 'old.wav')).mode & 0o777).toBe(0o644);

    const child = spawn(process.execPath, [BIN, 'serve', '--role', 'api'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    let out = '';
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        for (const line of out.split('\n'))
          if (line.includes('agentline is serving')) resolve((JSON.parse(line) as { url: string }).url);
      });
      void exit.then((code) => reject(new Error(`serve exited with ${code}:\n${err}\n${out}`)));
    });

    // The server writes to its database after the start (the key's last use), under its own umask.
    const keyFile = path.join(dataDir, 'first-api-key.json');
    const { key } = JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { key: string };
    const listed = await fetch(`${url}/v1/agent/calls`, { headers: { authorization: `Bearer ${key}` } });
    expect(listed.status).toBe(200);

    const entries = modes(dataDir);
    expect(entries.filter((e) => e.path.includes(`${path.sep}db${path.sep}`)).length).toBeGreaterThan(100);
    expect(entries.filter((e) => e.dir && e.mode !== 0o700)).toEqual([]);
    expect(entries.filter((e) => !e.dir && (e.mode & 0o077) !== 0)).toEqual([]);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

    // The log says where the key is and how to get rid of the file once it is saved.
    const created = out.split('\n').find((l) => l.includes('created the first account'));
    expect(created).toContain(`rm ${keyFile}`);
    expect(out).not.toContain(key);

    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});

describe('URLs the server prints', () => {
  it('carry no password, even in the error about an invalid DATABASE_URL', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-redact-'));
    dirs.push(dataDir);
    const r = await runAgentline(['serve'], {
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgres://agentline:hunter2@db.internal:54x2/agentline',
      LLM_URL: 'https://user:hunter2@llm example/v1',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL');
    expect(r.stderr).toContain('postgres://agentline:***@db.internal:54x2/agentline');
    expect(r.stderr).toContain('LLM_URL');
    expect(`${r.stdout}${r.stderr}`).not.toContain('hunter2');
  });
});
