import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { modelsCommand } from '../../src/cli/models.js';
import { fetchModel } from '../../src/voice/models/fetch.js';
import { loadManifest, type ManifestEntry } from '../../src/voice/models/manifest.js';

const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));
const sha = createHash('sha256').update(payload).digest('hex');

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env }, out, err };
}

describe('models fetch', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  let cutNext = false;
  const ranges: (string | undefined)[] = [];
  let zip: Buffer;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-models-'));
    const src = path.join(dir, 'zipsrc', 'model-x');
    await fs.mkdir(path.join(src, 'conf'), { recursive: true });
    await fs.writeFile(path.join(src, 'conf', 'model.conf'), 'x=1\n');
    await fs.writeFile(path.join(src, 'README'), 'model\n');
    execFileSync('zip', ['-qr', path.join(dir, 'm.zip'), 'model-x'], { cwd: path.join(dir, 'zipsrc') });
    zip = await fs.readFile(path.join(dir, 'm.zip'));
    server = http.createServer((req, res) => {
      ranges.push(req.headers.range);
      // Like a CDN serving JSON: compressed when the client accepts gzip (/gz), or always (/gz-always).
      const accepts = /gzip/.test(req.headers['accept-encoding'] ?? '');
      if (req.url === '/gz-always' || (req.url === '/gz' && accepts)) {
        const gz = gzipSync(payload);
        res.writeHead(200, { 'content-length': gz.length, 'content-encoding': 'gzip' });
        res.end(gz);
        return;
      }
      const body = req.url === '/m.zip' ? zip : payload;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const part = body.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'content-length': part.length,
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      if (cutNext) {
        cutNext = false;
        res.write(part.subarray(0, 50_000), () => res.destroy());
        return;
      }
      res.end(part);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await fs.rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    ranges.length = 0;
  });

  const entry = (over: Partial<ManifestEntry>): ManifestEntry => ({
    name: 'blob',
    kind: 'dialogue',
    engine: 'llama-cpp',
    url: `${base}/blob.bin`,
    dest: 'llm/blob.gguf',
    license: 'test',
    ...over,
  });

  it('installs a file whose checksum matches, and skips it next time', async () => {
    const modelsDir = path.join(dir, 'ok');
    const r = await fetchModel(entry({ sha256: sha }), { modelsDir });
    expect(r.status).toBe('installed');
    expect(await fs.readFile(path.join(modelsDir, 'llm/blob.gguf'))).toEqual(payload);
    expect(await fs.readdir(path.join(modelsDir, '.partial'))).toEqual([]);
    expect((await fetchModel(entry({ sha256: sha }), { modelsDir })).status).toBe('already-installed');
  });

  it('discards a download whose checksum does not match', async () => {
    const modelsDir = path.join(dir, 'bad');
    await expect(fetchModel(entry({ sha256: '0'.repeat(64) }), { modelsDir })).rejects.toThrow(
      new RegExp(`checksum mismatch .*got ${sha}`),
    );
    await expect(fs.stat(path.join(modelsDir, 'llm/blob.gguf'))).rejects.toThrow();
    expect(await fs.readdir(path.join(modelsDir, '.partial'))).toEqual([]);
  });

  it('resumes a cut download with a Range request', async () => {
    const modelsDir = path.join(dir, 'resume');
    cutNext = true;
    await expect(fetchModel(entry({ sha256: sha }), { modelsDir })).rejects.toThrow(
      /run the fetch again to resume/,
    );
    const partial = await fs.stat(path.join(modelsDir, '.partial', 'blob.download'));
    expect(partial.size).toBe(50_000);
    const r = await fetchModel(entry({ sha256: sha }), { modelsDir });
    expect(r.status).toBe('installed');
    expect(ranges).toEqual([undefined, 'bytes=50000-']);
    expect(await fs.readFile(path.join(modelsDir, 'llm/blob.gguf'))).toEqual(payload);
  });

  it('refuses a file whose size is not the pinned one before downloading it', async () => {
    const modelsDir = path.join(dir, 'size');
    await expect(
      fetchModel(entry({ sha256: sha, sizeBytes: payload.length + 1 }), { modelsDir }),
    ).rejects.toThrow(/offers 200000 bytes but the manifest pins 200001; the file has changed upstream/);
    await expect(fs.stat(path.join(modelsDir, 'llm/blob.gguf'))).rejects.toThrow();
    expect(await fs.readdir(path.join(modelsDir, '.partial'))).toEqual([]);
  });

  it('starts again when a leftover partial is longer than the pinned file', async () => {
    const modelsDir = path.join(dir, 'overlong');
    await fs.mkdir(path.join(modelsDir, '.partial'), { recursive: true });
    await fs.writeFile(
      path.join(modelsDir, '.partial', 'blob.download'),
      Buffer.alloc(payload.length + 10, 1),
    );
    const r = await fetchModel(entry({ sha256: sha, sizeBytes: payload.length }), { modelsDir });
    expect(r).toMatchObject({ status: 'installed', bytes: payload.length, sha256: sha });
    expect(ranges).toEqual([undefined]);
    expect(await fs.readFile(path.join(modelsDir, 'llm/blob.gguf'))).toEqual(payload);
  });

  it('checks the pinned size against the file itself, not a compressed transfer of it', async () => {
    // It asks for the bytes as they are (no gzip), so Content-Length is the file's size...
    const asked = await fetchModel(entry({ url: `${base}/gz`, sha256: sha, sizeBytes: payload.length }), {
      modelsDir: path.join(dir, 'gz'),
    });
    expect(asked).toMatchObject({ status: 'installed', bytes: payload.length });
    // ...and a server that compresses anyway is judged by the inflated bytes.
    const modelsDir = path.join(dir, 'gz-always');
    const forced = await fetchModel(
      entry({ url: `${base}/gz-always`, sha256: sha, sizeBytes: payload.length }),
      { modelsDir },
    );
    expect(forced).toMatchObject({ status: 'installed', bytes: payload.length });
    expect(await fs.readFile(path.join(modelsDir, 'llm/blob.gguf'))).toEqual(payload);
  });

  it('unpacks a zip into its destination folder, and warns when the manifest pins no hash', async () => {
    const modelsDir = path.join(dir, 'zip');
    const warnings: string[] = [];
    await fetchModel(entry({ name: 'zipped', url: `${base}/m.zip`, unpack: 'zip', dest: 'stt/model-x' }), {
      modelsDir,
      warn: (m) => warnings.push(m),
    });
    expect(await fs.readFile(path.join(modelsDir, 'stt/model-x/conf/model.conf'), 'utf8')).toBe('x=1\n');
    expect(warnings[0]).toMatch(/pins no sha256.*[0-9a-f]{64}/);
  });

  it('gives up quickly and clearly without a network', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      fetchModel(entry({ url: `http://127.0.0.1:${port}/x` }), { modelsDir: path.join(dir, 'off') }),
    ).rejects.toThrow(/cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Is this machine offline\?/);

    // A peer that accepts the connection but never answers: the connect timeout ends the wait.
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/x`;
    await expect(
      fetchModel(entry({ url }), { modelsDir: path.join(dir, 'off'), connectTimeoutMs: 200 }),
    ).rejects.toThrow(/no answer within 200 ms/);
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  it('the CLI fetches one named model from a manifest and lists it as installed', async () => {
    const manifest = path.join(dir, 'manifest.json');
    await fs.writeFile(
      manifest,
      JSON.stringify({ models: [entry({ sha256: sha }), entry({ name: 'other', dest: 'llm/other.gguf' })] }),
    );
    const modelsDir = path.join(dir, 'cli');
    const f = io();
    expect(
      await modelsCommand.run(
        ['fetch', '--only', 'blob', '--models-dir', modelsDir, '--manifest', manifest, '--json'],
        f.io,
      ),
    ).toBe(0);
    expect(JSON.parse(f.out.join('')).results[0]).toMatchObject({
      name: 'blob',
      status: 'installed',
      sha256: sha,
    });
    const l = io();
    await modelsCommand.run(['list', '--models-dir', modelsDir, '--manifest', manifest, '--json'], l.io);
    const listed = JSON.parse(l.out.join('')).models;
    expect(listed.map((m: { name: string; installed: boolean }) => [m.name, m.installed])).toEqual([
      ['blob', true],
      ['other', false],
    ]);
    await expect(
      modelsCommand.run(
        ['fetch', '--only', 'nope', '--models-dir', modelsDir, '--manifest', manifest],
        io().io,
      ),
    ).rejects.toThrow(/no model named nope/);
  });
});

describe('models synthetic and the shipped manifest', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-synth-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes a GGUF that the llama.cpp loader reads back', async () => {
    const out = path.join(dir, 'tiny.gguf');
    const c = io();
    expect(await modelsCommand.run(['synthetic', '--shape', 'tiny', '--out', out], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/random-weight tiny GGUF/);
    const info = await readGgufFileInfo(out);
    expect(info.metadata.general.name).toBe('random-tiny');
    expect(info.metadata.general.architecture).toBe('llama');
    expect(info.tensorInfo?.length).toBe(3 + 2 * 9);
    await expect(modelsCommand.run(['synthetic', '--shape', 'huge', '--out', out], c.io)).rejects.toThrow(
      /unknown shape "huge"/,
    );
  });

  it('lists the GGUFs under the models directory that the manifest does not name, marking synthetic ones', async () => {
    const modelsDir = path.join(dir, 'listed');
    // Where the README's first-call example puts it, in a folder a fresh checkout does not have yet.
    expect(
      await modelsCommand.run(
        ['synthetic', '--shape', 'tiny', '--out', path.join(modelsDir, 'tiny.gguf')],
        io().io,
      ),
    ).toBe(0);
    await fs.mkdir(path.join(modelsDir, 'llm'));
    await fs.writeFile(path.join(modelsDir, 'llm', 'broken.gguf'), 'not a model at all, just text');

    const j = io();
    expect(await modelsCommand.run(['list', '--models-dir', modelsDir, '--json'], j.io)).toBe(0);
    const { models } = JSON.parse(j.out.join('')) as { models: Record<string, unknown>[] };
    const shipped = await loadManifest();
    // The manifest's models first, none installed here, then what else the server could load.
    expect(models.slice(0, shipped.length).map((m) => [m.name, m.installed])).toEqual(
      shipped.map((e) => [e.name, false]),
    );
    expect(models.slice(shipped.length)).toEqual([
      expect.objectContaining({
        name: 'tiny.gguf',
        kind: 'dialogue',
        engine: 'llama-cpp',
        installed: true,
        path: path.join(modelsDir, 'tiny.gguf'),
        bytes: (await fs.stat(path.join(modelsDir, 'tiny.gguf'))).size,
        modelName: 'random-tiny',
        synthetic: true,
      }),
      expect.objectContaining({
        name: path.join('llm', 'broken.gguf'),
        installed: true,
        synthetic: false,
        modelName: null,
        note: 'not a GGUF file (bad magic)',
      }),
    ]);

    const h = io();
    expect(await modelsCommand.run(['list', '--models-dir', modelsDir], h.io)).toBe(0);
    expect(h.out.join('')).toMatch(
      /^tiny\.gguf +dialogue +llama-cpp +yes +\d+ +random weights \(random-tiny\): speaks gibberish$/m,
    );
  });

  it('ships a valid manifest naming an STT model, a Piper voice, a GGUF and libvosk', async () => {
    const m = await loadManifest();
    const kinds = new Set(m.map((e) => `${e.kind}:${e.engine}`));
    expect(kinds).toEqual(new Set(['stt:vosk', 'lib:vosk', 'tts:piper', 'dialogue:llama-cpp']));
    expect(m.find((e) => e.engine === 'llama-cpp')?.dest).toMatch(/\.gguf$/);
  });

  it('pins the size and SHA-256 of every shipped model, and a fixed revision of anything on Hugging Face', async () => {
    for (const e of await loadManifest()) {
      expect(e.sha256, e.name).toMatch(/^[0-9a-f]{64}$/);
      expect(e.sizeBytes, e.name).toBeGreaterThan(0);
      // A branch such as `main` moves; the pinned hash would then refuse the new file.
      if (e.url.includes('huggingface.co')) expect(e.url, e.name).not.toMatch(/\/resolve\/main\//);
    }
  });
});
