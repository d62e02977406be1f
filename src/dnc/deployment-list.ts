import fs from 'node:fs';
import type { Logger } from '../logger.js';
import { normaliseNumber } from './numbers.js';

/** What blockedBy needs of a deployment-wide list: the DeploymentDncList, or a fixed set in tests. */
export interface DncLookup {
  has(number: string): boolean;
}

export interface DeploymentDncListOptions {
  /** How often the file's mtime and size are looked at; default 2000 ms. */
  pollMs?: number;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * The deployment-wide do-not-call list (DNC_LIST_FILE): one number a line, `#` starts a comment,
 * blank lines are ignored. Numbers are stored as strict E.164 (written with spaces or dashes they are
 * normalised); a line that is no valid number is logged once (per content of the line) and skipped.
 * The file is re-read when its mtime or size changes (polled with an unref'd timer, so it never keeps
 * the process alive); while a re-read fails (file gone, unreadable), the last good list stays in force.
 */
export class DeploymentDncList implements DncLookup {
  private numbers: ReadonlySet<string> = new Set();
  private stamp = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly warned = new Set<string>();
  private readFailed = false;
  private reloads = 0;
  private closed = false;
  private polling = false;

  private constructor(
    readonly file: string,
    private readonly opts: DeploymentDncListOptions,
  ) {}

  /** Reads the file (a missing or unreadable file is an error naming it) and starts watching it. */
  static async open(file: string, opts: DeploymentDncListOptions = {}): Promise<DeploymentDncList> {
    const list = new DeploymentDncList(file, opts);
    let stat: fs.Stats;
    let text: string;
    try {
      stat = await fs.promises.stat(file);
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        `DNC_LIST_FILE ${file} cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? String(err))})`,
      );
    }
    list.apply(text, stampOf(stat));
    list.opts.logger?.info({ file, numbers: list.size }, 'deployment do-not-call list loaded');
    list.timer = setInterval(() => void list.poll(), opts.pollMs ?? 2000);
    list.timer.unref();
    return list;
  }

  has(number: string): boolean {
    return this.numbers.has(number);
  }

  get size(): number {
    return this.numbers.size;
  }

  /** How many times the list was read after the first; for tests and diagnostics. */
  get reloadCount(): number {
    return this.reloads;
  }

  /** Every listed number, sorted. */
  all(): string[] {
    return [...this.numbers].sort();
  }

  /** Re-reads the file now if it changed since the last read; the timer calls this. */
  async poll(): Promise<void> {
    if (this.closed || this.polling) return;
    this.polling = true;
    try {
      const stat = await fs.promises.stat(this.file);
      const stamp = stampOf(stat);
      if (stamp === this.stamp) return;
      const text = await fs.promises.readFile(this.file, 'utf8');
      if (this.closed) return;
      this.apply(text, stamp);
      this.reloads++;
      this.readFailed = false;
      this.opts.logger?.info({ file: this.file, numbers: this.size }, 'deployment do-not-call list reloaded');
    } catch (err) {
      if (!this.readFailed) {
        this.opts.logger?.error(
          { file: this.file, err },
          'deployment do-not-call list cannot be re-read; the last list read stays in force',
        );
      }
      this.readFailed = true;
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private apply(text: string, stamp: string): void {
    const next = new Set<string>();
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').replace(/#.*$/, '').trim();
      if (line === '') continue;
      const n = normaliseNumber(line);
      if (n.ok) {
        next.add(n.number);
      } else if (!this.warned.has(line)) {
        this.warned.add(line);
        this.opts.logger?.warn(
          { file: this.file, line: i + 1, value: line, reason: n.message },
          'deployment do-not-call list: line skipped',
        );
      }
    }
    this.numbers = next;
    this.stamp = stamp;
  }
}

function stampOf(stat: fs.Stats): string {
  return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
}
