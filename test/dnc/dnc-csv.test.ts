import { describe, expect, it } from 'vitest';
import { parseDncCsv } from '../../src/dnc/do-not-call.js';
import { normaliseNumber } from '../../src/dnc/numbers.js';

describe('parseDncCsv', () => {
  it('reads a number column wherever it is, with a BOM, quotes, CRLF and mixed line ends', async () => {
    const csv =
      '\uFEFFname,"Number"\r\n"Ann, Jr.","+1 415 555 2671"\r\nBob,+14155550142\nCid,+44 20 7183 8750\r';
    expect(await parseDncCsv(csv)).toEqual({
      numbers: ['+14155552671', '+14155550142', '+442071838750'],
      invalid: [],
    });
  });

  it('takes the first column without a header, and a first line without digits as a header', async () => {
    expect((await parseDncCsv('+14155552671,x\n+14155550142\n')).numbers).toEqual([
      '+14155552671',
      '+14155550142',
    ]);
    expect(await parseDncCsv('phone,who\n+14155552671,x\n')).toEqual({
      numbers: ['+14155552671'],
      invalid: [],
    });
    // A first line with digits that is not a number is a bad line, not a header.
    expect((await parseDncCsv('12345\n+14155552671\n')).invalid.map((i) => i.line)).toEqual([1]);
  });

  it('reports the line of each bad value, a stray quote included, and keeps the rest', async () => {
    const { numbers, invalid } = await parseDncCsv(
      'number\n+14155552671\n   \n"+1415555014\n0044207183875\n+14155550143\n',
    );
    expect(numbers).toEqual(['+14155552671', '+14155550143']);
    expect(invalid.map((i) => [i.line, i.code])).toEqual([
      [4, 'invalid_number'],
      [5, 'invalid_number'],
    ]);
    expect(invalid[0].message).toMatch(/not CSV/);
    expect(invalid[1].message).toMatch(/not international/);
  });

  it('lets the event loop run while it checks many numbers', async () => {
    const csv = Array.from({ length: 2_000 }, (_, i) => `+1415555${String(i).padStart(4, '0')}`).join('\n');
    let ranBetween = false;
    const parsing = parseDncCsv(csv);
    setImmediate(() => {
      ranBetween = true;
    });
    const { numbers } = await parsing;
    // A synchronous check of all 2,000 would have finished before any macrotask ran.
    expect(ranBetween).toBe(true);
    expect(numbers.length).toBe(2_000);
  });
});

describe('normaliseNumber', () => {
  it('accepts international numbers in common spellings as strict E.164 and refuses the rest', () => {
    expect(normaliseNumber('+1 (415) 555-2671')).toEqual({ ok: true, number: '+14155552671' });
    expect(normaliseNumber(' +44 20 7183 8750 ')).toEqual({ ok: true, number: '+442071838750' });
    for (const bad of ['', '4155552671', '+1415', '+999123456789', '+14155552671 ext 2', 'call me']) {
      expect(normaliseNumber(bad).ok, bad).toBe(false);
    }
  });
});
