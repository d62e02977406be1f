import { describe, expect, it } from 'vitest';
import { ConfParseError, parseAsteriskConfig, value, values } from './asterisk-ini.js';

// The reader the config checks rely on, held to what Asterisk's main/config.c does with the same text.

const noIncludes = () => null;

describe('parseAsteriskConfig', () => {
  it('drops comments, keeps escaped semicolons and reads => like =', () => {
    const [s] = parseAsteriskConfig(
      [
        '[general] ; trailing',
        'password = a\\;b ; comment',
        ';-- a block',
        'hidden = 1',
        '--; shown = 2',
        'exten => s,1,NoOp()',
      ].join('\n'),
      't.conf',
      noIncludes,
    );
    expect(s.vars).toEqual([
      ['password', 'a;b'],
      ['shown', '2'],
      ['exten', 's,1,NoOp()'],
    ]);
  });

  it('copies templates into sections that name them, appends with (+) and keeps same-named sections apart', () => {
    const sections = parseAsteriskConfig(
      [
        '[tpl](!)',
        'type = endpoint',
        'allow = ulaw',
        '[trunk](tpl)',
        'allow = alaw',
        '[trunk]',
        'type = aor',
        '[tpl2](!)',
        '[tpl](+)',
        'context = x',
      ].join('\n'),
      't.conf',
      noIncludes,
    );
    expect(sections.map((s) => [s.name, s.template, value(s, 'type')])).toEqual([
      ['tpl', true, 'endpoint'],
      ['trunk', false, 'endpoint'],
      ['trunk', false, 'aor'],
      ['tpl2', true, undefined],
    ]);
    expect(values(sections[1], 'allow')).toEqual(['ulaw', 'alaw']);
    expect(value(sections[0], 'context')).toBe('x');
  });

  it('puts included text where the directive is and continues the including file in its own section', () => {
    const sections = parseAsteriskConfig('[a]\nx = 1\n#exec /etc/asterisk/s.sh\ny = 2', 't.conf', (d) =>
      d.kind === 'exec' && d.target === '/etc/asterisk/s.sh'
        ? { name: 's', text: 'z = 3\n[b]\nw = 4' }
        : null,
    );
    expect(sections.map((s) => [s.name, s.vars])).toEqual([
      [
        'a',
        [
          ['x', '1'],
          ['z', '3'],
          ['y', '2'],
        ],
      ],
      ['b', [['w', '4']]],
    ]);
  });

  it.each([
    ['a variable before any section', 'x = 1'],
    ['(+) on a section that does not exist', '[nope](+)'],
    ['inheriting from a section that does not exist', '[a](nope)'],
    ['a line without =', '[a]\njunk'],
    ['a missing #include', '[a]\n#include other.conf'],
    ['an unclosed block comment', '[a]\n;-- open'],
  ])('refuses %s, as Asterisk does', (_label, text) => {
    expect(() => parseAsteriskConfig(text, 't.conf', noIncludes)).toThrow(ConfParseError);
  });

  it('skips a missing #tryinclude', () => {
    expect(parseAsteriskConfig('[a]\n#tryinclude other.conf\nx = 1', 't.conf', noIncludes)[0].vars).toEqual([
      ['x', '1'],
    ]);
  });
});
