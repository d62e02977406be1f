import { describe, expect, it } from 'vitest';
import { PlaceCallBodySchema } from './schemas.js';
import { nestsDeeperThan, unstorableProblems } from './storable-json.js';

/** `[[[…]]]` with `levels` arrays, built without recursion. */
function arrays(levels: number): unknown {
  return JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
}

describe('unstorableProblems', () => {
  it('names each bad string by its path, in the order the client wrote them', () => {
    const body = { a: 'ok', b: ['x', 'y\u0000'], c: { d: '\udc00', e: '😀' } };
    expect(unstorableProblems(body, 32)).toEqual([
      { field: 'b[1]', message: 'must not contain NUL (\\u0000)' },
      { field: 'c.d', message: expect.stringContaining('lone UTF-16 surrogate') },
    ]);
  });

  it('counts depth under each top-level field and reports that field once', () => {
    expect(unstorableProblems({ m: arrays(32) }, 32)).toEqual([]);
    expect(unstorableProblems({ m: arrays(33), n: arrays(40_000) }, 32)).toEqual([
      { field: 'm', message: 'must not nest deeper than 32 levels' },
      { field: 'n', message: 'must not nest deeper than 32 levels' },
    ]);
  });

  it('stops at 20 problems however many there are', () => {
    const body = { list: Array.from({ length: 5_000 }, () => '\u0000') };
    expect(unstorableProblems(body, 32)).toHaveLength(20);
  });

  it('shortens long keys in the path', () => {
    const [p] = unstorableProblems({ m: { ['k'.repeat(500)]: '\u0000' } }, 32);
    expect(p.field).toBe(`m.${'k'.repeat(64)}…`);
  });
});

describe('nestsDeeperThan', () => {
  it('counts the value itself as level 1 and never recurses', () => {
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: {} }, 1)).toBe(true);
    expect(nestsDeeperThan('text', 0)).toBe(false);
    expect(nestsDeeperThan(arrays(100_000), 32)).toBe(true);
  });
});

describe('PlaceCallBodySchema metadata', () => {
  it('refuses metadata nested thousands deep with an issue, not a stack overflow', () => {
    const r = PlaceCallBodySchema.safeParse({
      to: '+14155552671',
      objective: 'Ask.',
      metadata: { a: arrays(50_000) },
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['metadata', 'must not nest deeper than 32 levels'],
    ]);
  });
});
