import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/agentline.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `node bin/agentline.js ...` with exactly `env` (plus PATH), as an operator's shell would. */
export function runAgentline(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...TEST_CALL_WINDOW, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The one JSON object a `--json` run prints; fails loudly if stdout holds anything else. */
export function jsonOf<T = Record<string, unknown>>(r: CliResult): T {
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== 1)
    throw new Error(`expected one JSON line on stdout, got: ${JSON.stringify(r.stdout)}`);
  return JSON.parse(lines[0]) as T;
}
