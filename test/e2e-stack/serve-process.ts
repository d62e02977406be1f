import { type ChildProcess, spawn } from 'node:child_process';
import { BIN } from '../cli/run-agentline.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';

export interface ServeProcess {
  child: ChildProcess;
  /** Every JSON log line it printed so far. */
  lines: Record<string, unknown>[];
  /** Resolves with the first log line that `pred` accepts; rejects if the process exits first. */
  logged(pred: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** SIGTERM, as a process manager stops it (SIGKILL if it has not exited after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  exit: Promise<number | null>;
  /** Whether the process is still running (a crash would show here). */
  alive(): boolean;
}

/** Starts `node bin/agentline.js serve --role <role>` with exactly `env` (plus PATH), as an operator would. */
export function startServe(role: 'all' | 'api' | 'worker', env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, [BIN, 'serve', '--role', role], {
    env: { PATH: process.env.PATH ?? '', ...TEST_CALL_WINDOW, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  return {
    child,
    lines,
    exit,
    alive: () => child.exitCode === null && child.signalCode === null,
    logged(pred) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        void exit.then((code) =>
          reject(
            new Error(
              `serve --role ${role} exited with ${code}:\n${stderr}\n${lines.map((l) => l.msg).join('\n')}`,
            ),
          ),
        );
      });
    },
    async stop(graceMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A stop that hangs must not hang the test run: the exit code (null) then says what happened.
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exit;
      } finally {
        clearTimeout(kill);
      }
    },
  };
}
