import { describe, expect, it } from 'vitest';
import { SayExtractor } from './say-extractor.js';

/** Feeds the text in chunks of `size` characters and collects the deltas. */
function run(json: string, size: number): { deltas: string[]; x: SayExtractor } {
  const x = new SayExtractor();
  const deltas: string[] = [];
  for (let i = 0; i < json.length; i += size) {
    const d = x.push(json.slice(i, i + size));
    if (d) deltas.push(d);
  }
  return { deltas, x };
}

describe('SayExtractor', () => {
  const value = { action: 'dtmf', digits: '12#', say: 'Press "1" now,\nthen wait \\ ok é 😀.' };
  const json = JSON.stringify(value).replace('\u00e9', '\\u00e9').replace('😀', '\\ud83d\\ude00');

  it.each([1, 2, 3, 5, 7, 1000])('decodes the say value exactly when fed %i characters at a time', (size) => {
    const { deltas, x } = run(json, size);
    expect(deltas.join('')).toBe(value.say);
    expect(x.text).toBe(value.say);
    expect(x.done).toBe(true);
    expect(x.fields).toEqual({ action: 'dtmf', digits: '12#' });
    // No delta ever carries half of a surrogate pair.
    for (const d of deltas) expect(d).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('streams say before the object is complete, and ignores nested and non-say strings', () => {
    const x = new SayExtractor();
    expect(x.push('{"meta":{"say":"not me"},"notes":["say"],"say":"Hel')).toBe('Hel');
    expect(x.done).toBe(false);
    expect(x.push('lo"')).toBe('lo');
    expect(x.done).toBe(true);
    expect(x.push(',"extra":"say"}')).toBe('');
    expect(x.text).toBe('Hello');
  });

  it('treats a "say" appearing as a value, not a key, as an ordinary value', () => {
    const { deltas } = run('{"action":"say","say":"yes"}', 4);
    expect(deltas.join('')).toBe('yes');
  });
});
