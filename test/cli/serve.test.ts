import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { BIN, runAgentline } from './run-agentline.js';

const usePostgres = Boolean(process.env.DATABASE_URL);
let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;
let server: ChildProcess | null = null;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-serve-'));
  env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  if (usePostgres) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
});

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGKILL');
    await new Promise((r) => server!.on('close', r));
  }
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Starts `agentline serve --role api` and resolves with its URL once it logs that it is serving. */
function startServe(): Promise<{ child: ChildProcess; url: string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--role', 'api'], {
    env: { PATH: process.env.PATH ?? '', ...TEST_CALL_WINDOW, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.includes('agentline is serving')) continue;
        resolve({ child, url: (JSON.parse(line) as { url: string }).url, exit });
      }
    });
    void exit.then((code) => reject(new Error(`serve exited with ${code} before serving:\n${err}\n${out}`)));
  });
}

/** Whether a new server can bind `port` on loopback, i.e. no process holds it any more. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('agentline serve', { timeout: 180_000 }, () => {
  it('serves until SIGTERM, then stops cleanly with exit 0', async () => {
    const { child, url, exit } = await startServe();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const admin = await runAgentline(['accounts', 'list', '--json'], { ...env, LOG_LEVEL: 'silent' });
    if (usePostgres) {
      // Postgres is shared: the admin CLI works beside a running server and sees its first account.
      expect(admin.code, admin.stderr).toBe(0);
      expect(JSON.parse(admin.stdout).accounts).toEqual([expect.objectContaining({ name: 'default' })]);
    } else {
      // The embedded database is the server's alone while it runs.
      expect(admin.code).toBe(1);
      expect(admin.stderr).toContain(`is in use by process ${child.pid}; stop it, or set DATABASE_URL`);
    }

    // As a process manager (systemd, docker, supervisord) stops it: SIGTERM to the PID it started.
    // The server runs in that very process (bin/agentline.js loads tsx in-process, no child), so
    // the process exits and the port is free for the next start.
    process.kill(child.pid!, 'SIGTERM');
    expect(await exit).toBe(0);
    expect(() => process.kill(child.pid!, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(await canListen(Number(new URL(url).port))).toBe(true);
    if (!usePostgres) expect(fs.existsSync(path.join(dataDir, 'db', 'agentline.pid'))).toBe(false);
  });
});
