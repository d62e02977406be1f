import { describe, expect, it } from 'vitest';
import { duplicateKeys } from './strict-json.js';

describe('duplicateKeys', () => {
  it('finds keys repeated in one object, at any depth, and nothing in clean JSON', () => {
    expect(duplicateKeys('{"part":"agent","a":1,"part":"summary"}')).toEqual(['part']);
    expect(duplicateKeys('{"a":{"b":1,"b":[1,{"c":2,"c":3}]},"d":"x\\"y"}')).toEqual(['a.b', 'a.b.1.c']);
    expect(duplicateKeys('{"a":[{"b":1},{"b":2}],"s":"\\u0041","n":-1.5e3,"t":true,"z":null}')).toEqual([]);
  });

  it('refuses what is not JSON', () => {
    expect(() => duplicateKeys('{"a":1,}')).toThrow();
    expect(() => duplicateKeys('{"a":1} x')).toThrow();
  });
});
