import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeploymentDncList } from '../../src/dnc/deployment-list.js';

/** Polls `cond` (the list re-reads on its own timer) until it holds; fails after `ms` with `what`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, logger: { info: log('info'), warn: log('warn'), error: log('error') } as never };
}

describe('DeploymentDncList', () => {
  let dir: string;
  let file: string;
  const opened: DeploymentDncList[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-dnc-file-'));
    file = path.join(dir, 'dnc.txt');
  });
  afterEach(() => {
    for (const l of opened.splice(0)) l.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const open = async (opts: Parameters<typeof DeploymentDncList.open>[1] = {}) => {
    const l = await DeploymentDncList.open(file, { pollMs: 20, ...opts });
    opened.push(l);
    return l;
  };

  it('reads one number a line, with comments, blank lines and spacing; a bad line is logged and skipped', async () => {
    fs.writeFileSync(
      file,
      "# the operator's list\n\n+14155552671\n  +1 415 555 0142   # asked by phone\r\n14155550143\n+1415\n",
    );
    const { lines, logger } = recordingLogger();
    const list = await open({ logger });
    expect(list.size).toBe(2);
    expect(list.has('+14155552671')).toBe(true);
    expect(list.has('+14155550142')).toBe(true);
    expect(list.has('+14155550143')).toBe(false);
    expect(list.all()).toEqual(['+14155550142', '+14155552671']);
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned.map((l) => l.obj.line)).toEqual([5, 6]);
    expect(warned.every((l) => l.obj.file === file)).toBe(true);
  });

  it('reloads when the file changes, logging a bad line once across reloads', async () => {
    fs.writeFileSync(file, '+14155552671\nbad line\n');
    const { lines, logger } = recordingLogger();
    const list = await open({ logger });
    expect(list.has('+14155550199')).toBe(false);

    fs.writeFileSync(file, '+14155552671\nbad line\n+14155550199\n');
    await until(() => list.has('+14155550199'), 'the added number');
    expect(list.size).toBe(2);

    fs.writeFileSync(file, 'bad line\n+14155550199\n');
    await until(() => !list.has('+14155552671'), 'the removed number gone');
    expect(list.size).toBe(1);
    expect(list.reloadCount).toBe(2);
    expect(lines.filter((l) => l.level === 'warn' && l.obj.value === 'bad line').length).toBe(1);
  });

  it('keeps the last list when the file goes away, and picks it up when it is back', async () => {
    fs.writeFileSync(file, '+14155552671\n');
    const { lines, logger } = recordingLogger();
    const list = await open({ logger });
    fs.rmSync(file);
    await until(() => lines.some((l) => l.level === 'error'), 'the error logged');
    expect(list.has('+14155552671')).toBe(true);
    fs.writeFileSync(file, '+14155550142\n');
    await until(() => list.has('+14155550142'), 'the new file read');
    expect(list.has('+14155552671')).toBe(false);
    expect(lines.filter((l) => l.level === 'error').length).toBe(1);
  });

  it('refuses to start on a missing file, naming it', async () => {
    await expect(DeploymentDncList.open(path.join(dir, 'missing.txt'))).rejects.toThrow(
      `DNC_LIST_FILE ${path.join(dir, 'missing.txt')} cannot be read (no such file)`,
    );
  });

  it('stops re-reading once closed', async () => {
    fs.writeFileSync(file, '+14155552671\n');
    const list = await open({ pollMs: 3_600_000 });
    list.close();
    fs.writeFileSync(file, '+14155550142\n');
    await list.poll();
    expect(list.has('+14155550142')).toBe(false);
    expect(list.has('+14155552671')).toBe(true);
    // poll() is what the timer calls: before close it would have read the change.
    const other = await open({ pollMs: 3_600_000 });
    fs.writeFileSync(file, '+14155550142\n+14155550143\n');
    await other.poll();
    expect(other.has('+14155550143')).toBe(true);
  });
});
