import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { DashboardEnv } from './types.js';

/** src/dashboard/assets: app.css and the pages' progressive-enhancement scripts. */
export const ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** Each path segment: letters, digits, dot, dash, underscore; never starting with a dot. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The file an /assets/ path names, or null: unknown type, hidden file, `..`, or outside the folder. */
function resolveAsset(rel: string): string | null {
  const segments = rel.split('/');
  if (segments.length > 4 || !segments.every((s) => SEGMENT.test(s))) return null;
  if (!TYPES[path.extname(rel).toLowerCase()]) return null;
  const file = path.resolve(ASSETS_DIR, ...segments);
  if (!file.startsWith(ASSETS_DIR + path.sep)) return null;
  return file;
}

const cache = new Map<string, { mtimeMs: number; asset: Asset }>();

function loadAsset(rel: string): Asset | null {
  const file = resolveAsset(rel);
  if (!file) return null;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return null;
  }
  if (!stat.isFile()) return null;
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === stat.mtimeMs) return hit.asset;
  const body = fs.readFileSync(file);
  const asset = {
    body,
    type: TYPES[path.extname(file).toLowerCase()],
    etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
  };
  cache.set(file, { mtimeMs: stat.mtimeMs, asset });
  return asset;
}

/**
 * The URL to load an asset by: `/assets/<name>?v=<content hash>`, so a page always asks for the
 * current file and the browser may keep each version for a year.
 */
export function assetUrl(name: string): string {
  const asset = loadAsset(name);
  return asset ? `/assets/${name}?v=${asset.etag.slice(1, 9)}` : `/assets/${name}`;
}

const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>
<body><h1>Not found</h1><p>There is no such file.</p></body></html>`;

/** GET /assets/<file>: static files with their content type, ETag revalidation and no path tricks. */
export function registerAssets(ui: Hono<DashboardEnv>): void {
  ui.on(['GET', 'HEAD'], '/assets/*', (c) => {
    const rel = c.req.path.slice('/assets/'.length);
    const asset = loadAsset(rel);
    const common = { 'X-Content-Type-Options': 'nosniff' };
    if (!asset) {
      return c.html(NOT_FOUND_PAGE, 404, { ...common, 'Cache-Control': 'no-store' });
    }
    const versioned = c.req.query('v') === asset.etag.slice(1, 9);
    const headers = {
      ...common,
      'Content-Type': asset.type,
      ETag: asset.etag,
      // A versioned URL never changes meaning; a bare one is checked each time (a cheap 304).
      'Cache-Control': versioned ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    return c.body(new Uint8Array(asset.body), 200, headers);
  });
}
