import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromCallError } from '../../src/api/errors.js';
import { CallError } from '../../src/calls/errors.js';

const SRC = path.resolve(import.meta.dirname, '../../src');
/** What runs below the HTTP layer: the worker, the CLI and MCP load these without Hono routes. */
const BELOW_API = ['calls', 'telephony', 'voice', 'webhooks', 'db', 'accounts'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('layering', () => {
  it('no module below the API imports src/api at run time', () => {
    const offenders: string[] = [];
    for (const folder of BELOW_API) {
      for (const file of sourceFiles(path.join(SRC, folder))) {
        const text = fs.readFileSync(file, 'utf8');
        // `import type` is erased by the compiler; only value imports load the HTTP layer.
        for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)) {
          const target = path.resolve(path.dirname(file), m[1]);
          if (target.startsWith(path.join(SRC, 'api') + path.sep)) {
            offenders.push(`${path.relative(SRC, file)} -> ${m[1]}`);
          }
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('maps the domain refusals to the spec error body and status', () => {
    const limited = fromCallError(
      new CallError('rate_limited', 'Slow down.', { cap: 'calls_per_minute', limit: 1 }, 12),
    );
    expect(limited.status).toBe(429);
    expect(limited.headers).toEqual({ 'Retry-After': '12' });
    expect(limited.toBody()).toEqual({
      error: { code: 'rate_limited', message: 'Slow down.', details: { cap: 'calls_per_minute', limit: 1 } },
    });
    const gone = fromCallError(new CallError('account_not_found', 'No account.'));
    expect(gone.status).toBe(401);
    expect(gone.toBody().error.code).toBe('unauthorized');
    expect(fromCallError(new CallError('call_already_ended', 'Ended.')).status).toBe(409);
  });
});
