import { describe, expect, it } from 'vitest';
import { canonicalJson, requestHash } from './idempotency.js';

describe('request hashing', () => {
  it('ignores key order at every level', () => {
    const a = { to: '+1', fields: [{ name: 'x', type: 'string' }], metadata: { b: 1, a: { d: 2, c: 3 } } };
    const b = { metadata: { a: { c: 3, d: 2 }, b: 1 }, fields: [{ type: 'string', name: 'x' }], to: '+1' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(requestHash(a)).toBe(requestHash(b));
  });

  it('tells apart bodies that differ in a value, in array order or in a field being present', () => {
    const base = { to: '+1', fields: [{ name: 'a' }, { name: 'b' }] };
    expect(requestHash(base)).not.toBe(requestHash({ ...base, to: '+2' }));
    expect(requestHash(base)).not.toBe(requestHash({ ...base, fields: [{ name: 'b' }, { name: 'a' }] }));
    expect(requestHash(base)).not.toBe(requestHash({ ...base, context: '' }));
  });

  it('writes plain JSON', () => {
    expect(canonicalJson({ b: [1, 'x', null, true], a: 'é"' })).toBe('{"a":"é\\"","b":[1,"x",null,true]}');
  });
});
