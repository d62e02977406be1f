import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ManifestEntry } from './manifest.js';

const run = promisify(execFile);

export interface FetchProgress {
  start(name: string, total: number | null, already: number): void;
  advance(bytes: number): void;
  stop(): void;
}

export interface FetchModelOptions {
  modelsDir: string;
  /** Give up when a server has not answered (connected and sent headers) within this long. Default 5 s. */
  connectTimeoutMs?: number;
  /** Give up when the body stalls this long. Default 60 s. */
  stallTimeoutMs?: number;
  progress?: FetchProgress;
  /** Warnings for the operator (e.g. a manifest entry without a hash). */
  warn?: (message: string) => void;
}

export interface FetchResult {
  name: string;
  path: string;
  status: 'installed' | 'already-installed';
  sha256?: string;
  bytes?: number;
}

export class FetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchError';
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/**
 * Downloads one manifest entry into MODELS_DIR: into `.partial/` first, resuming a cut download
 * with a Range request, checking the size and SHA-256 the manifest pins, unpacking zips with
 * `unzip`, and renaming into place only when complete, so a half-written model is never used.
 */
export async function fetchModel(entry: ManifestEntry, opts: FetchModelOptions): Promise<FetchResult> {
  const dest = path.join(opts.modelsDir, entry.dest);
  if (await exists(dest)) return { name: entry.name, path: dest, status: 'already-installed' };
  const partialDir = path.join(opts.modelsDir, '.partial');
  await fs.mkdir(partialDir, { recursive: true });
  const partial = path.join(partialDir, `${entry.name}.download`);
  let have = (await fs.stat(partial).catch(() => null))?.size ?? 0;
  const pinnedSize = entry.sizeBytes ?? null;
  if (pinnedSize !== null && have > pinnedSize) {
    // Longer than the file can be: not a prefix of it, so resuming would only fail the checksum.
    await fs.rm(partial, { force: true });
    have = 0;
  }

  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), opts.connectTimeoutMs ?? 5000);
  let res: Response;
  const host = new URL(entry.url).host;
  try {
    res = await fetch(entry.url, {
      signal: ac.signal,
      // The file's own bytes: what the size and hash pin, and what a byte range counts in (fetch
      // would otherwise ask for gzip and inflate it, so Content-Length would not be the file's size).
      headers: { 'accept-encoding': 'identity', ...(have > 0 ? { range: `bytes=${have}-` } : {}) },
      redirect: 'follow',
    });
  } catch (err) {
    clearTimeout(timer);
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    const why = ac.signal.aborted
      ? `no answer within ${opts.connectTimeoutMs ?? 5000} ms`
      : (cause ?? (err as Error).message);
    throw new FetchError(
      `${entry.name}: cannot reach ${host} (${why}). Is this machine offline? Fetch the models on a machine with internet and copy MODELS_DIR, or set LLM_MODEL / LLM_URL.`,
    );
  }
  clearTimeout(timer);
  const resetStall = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(), opts.stallTimeoutMs ?? 60_000);
  };

  let append = false;
  if (res.status === 206 && have > 0) {
    append = true;
  } else if (res.status === 416 && have > 0) {
    // The partial file already holds every byte: fall through to verification.
    append = true;
  } else if (res.ok) {
    have = 0;
  } else {
    throw new FetchError(`${entry.name}: ${entry.url} answered HTTP ${res.status}`);
  }
  const encoding = res.headers.get('content-encoding');
  const lengthHeader =
    encoding && encoding !== 'identity' ? Number.NaN : Number(res.headers.get('content-length'));
  const offered =
    res.status === 416
      ? have
      : Number.isFinite(lengthHeader) && lengthHeader > 0
        ? have + lengthHeader
        : null;
  if (pinnedSize !== null && offered !== null && offered !== pinnedSize) {
    // Refuse before downloading (a GGUF is a gigabyte): the publisher's file is not the one pinned.
    await res.body?.cancel();
    if (res.status === 416) await fs.rm(partial, { force: true });
    throw new FetchError(
      `${entry.name}: ${entry.url} offers ${offered} bytes but the manifest pins ${pinnedSize}; the file has changed upstream, so nothing was downloaded`,
    );
  }
  const total = offered ?? pinnedSize;

  const hash = createHash('sha256');
  if (append && have > 0) await hashFile(partial, hash);
  let received = have;
  if (res.status !== 416 && res.body) {
    opts.progress?.start(entry.name, total, have);
    const out = createWriteStream(partial, { flags: append ? 'a' : 'w' });
    const outDone = new Promise<void>((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
    });
    try {
      resetStall();
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        resetStall();
        hash.update(chunk);
        received += chunk.length;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        opts.progress?.advance(chunk.length);
      }
    } catch (err) {
      out.end();
      await outDone.catch(() => undefined);
      throw new FetchError(
        `${entry.name}: download interrupted after ${received} bytes (${(err as Error).message}); run the fetch again to resume`,
      );
    } finally {
      clearTimeout(timer);
      opts.progress?.stop();
    }
    out.end();
    await outDone;
  } else {
    await res.body?.cancel();
  }
  if (pinnedSize !== null && received !== pinnedSize) {
    if (received > pinnedSize) await fs.rm(partial, { force: true });
    throw new FetchError(
      received < pinnedSize
        ? `${entry.name}: download ended after ${received} of ${pinnedSize} bytes; run the fetch again to resume`
        : `${entry.name}: received ${received} bytes but the manifest pins ${pinnedSize}; the download was discarded`,
    );
  }
  if (total !== null && received < total) {
    throw new FetchError(
      `${entry.name}: download ended after ${received} of ${total} bytes; run the fetch again to resume`,
    );
  }
  const digest = hash.digest('hex');
  if (entry.sha256) {
    if (digest !== entry.sha256) {
      await fs.rm(partial, { force: true });
      throw new FetchError(
        `${entry.name}: checksum mismatch (expected sha256 ${entry.sha256}, got ${digest}); the download was discarded`,
      );
    }
  } else {
    opts.warn?.(`${entry.name}: the manifest pins no sha256; downloaded file has sha256 ${digest}`);
  }

  await fs.mkdir(path.dirname(dest), { recursive: true });
  if (entry.unpack === 'zip') {
    const staging = path.join(partialDir, `${entry.name}.unpacked`);
    await fs.rm(staging, { recursive: true, force: true });
    await fs.mkdir(staging, { recursive: true });
    try {
      await run('unzip', ['-q', '-o', partial, '-d', staging]);
    } catch (err) {
      await fs.rm(staging, { recursive: true, force: true });
      throw new FetchError(`${entry.name}: cannot unpack the zip: ${(err as Error).message.split('\n')[0]}`);
    }
    let source = staging;
    if (entry.extract) {
      source = path.join(staging, entry.extract);
      if (!(await exists(source))) throw new FetchError(`${entry.name}: the archive has no ${entry.extract}`);
    } else {
      // Archives usually wrap everything in one top folder: install that folder's content.
      const top = await fs.readdir(staging);
      if (top.length === 1 && (await fs.stat(path.join(staging, top[0]))).isDirectory()) {
        source = path.join(staging, top[0]);
      }
    }
    await fs.rename(source, dest);
    await fs.rm(staging, { recursive: true, force: true });
    await fs.rm(partial, { force: true });
  } else {
    await fs.rename(partial, dest);
  }
  return { name: entry.name, path: dest, status: 'installed', sha256: digest, bytes: received };
}
