import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkDestination,
  checkNumberFormat,
  DEFAULT_IRSF_FILE,
  type GuardrailOptions,
  isStrictE164,
  loadIrsfList,
} from './guardrails.js';

const ALLOWED = ['US', 'CA', 'GB', 'AU', 'NZ', 'IL'];
const opts: GuardrailOptions = { allowedCountries: ALLOWED, irsf: loadIrsfList() };

describe('isStrictE164', () => {
  it.each([
    ['+14155552671', true],
    ['+12345678', true], // 8 digits, the shortest allowed
    ['+123456789012345', true], // 15 digits, the longest allowed
    ['+1234567', false],
    ['+1234567890123456', false],
    ['14155552671', false],
    ['+04155552671', false],
    ['+1 415 555 2671', false],
    ['+1-415-555-2671', false],
    ['+1415555267a', false],
    ['', false],
    [' +14155552671', false],
    ['+14155552671\n', false],
  ])('%j → %s', (s, ok) => {
    expect(isStrictE164(s)).toBe(ok);
  });
});

describe('checkDestination: allowed destinations pass', () => {
  // US numbers share one numbering pattern for fixed and mobile, so there is one US case of each kind of area.
  it.each([
    ['US fixed or mobile (NY)', '+12125551234'],
    ['US fixed or mobile (CA)', '+14155552671'],
    ['CA fixed or mobile (Ottawa)', '+16135550123'],
    ['CA fixed or mobile (New Brunswick)', '+15062345678'],
    ['GB fixed (London)', '+442079460000'],
    ['GB mobile', '+447400123456'],
    ['AU fixed (Sydney)', '+61212345678'],
    ['AU mobile', '+61412345678'],
    ['NZ fixed (Wellington)', '+6493456789'],
    ['NZ mobile', '+64211234567'],
    ['IL fixed (Jerusalem)', '+97221234567'],
    ['IL mobile', '+972502345678'],
  ])('%s %s', (_label, to) => {
    expect(checkDestination(to, opts)).toBeNull();
  });
});

describe('checkDestination: invalid numbers', () => {
  it.each([
    ['no plus', '14155552671', 'e164_format'],
    ['spaces', '+1 415 555 2671', 'e164_format'],
    ['too short', '+1234567', 'e164_format'],
    ['too long', '+1234567890123456', 'e164_format'],
    ['leading zero country code', '+04155552671', 'e164_format'],
    ['letters', '+1415CALLNOW', 'e164_format'],
    ['US number with an impossible area code', '+11235551234', 'not_a_valid_number'],
    ['GB number one digit short', '+44207946000', 'not_a_valid_number'],
    ['unassigned country code', '+99912345678', 'not_a_valid_number'],
  ])('%s: %j', (_label, to, rule) => {
    const f = checkDestination(to, opts);
    expect(f).toMatchObject({ code: 'invalid_number', details: { field: 'to', rule } });
    expect(f?.message).toMatch(/^to /);
  });

  it('names the field it checks', () => {
    expect(checkNumberFormat('555-1234', 'callerId')).toMatchObject({
      code: 'invalid_number',
      details: { field: 'callerId', rule: 'e164_format' },
    });
    expect(checkNumberFormat('+447400123456', 'callerId')).toBeNull();
  });
});

describe('checkDestination: countries', () => {
  it.each([
    ['Jamaica +1 876', '+18762345678', 'JM'],
    ['Antigua +1 268', '+12684641234', 'AG'],
    ['Dominican Republic +1 809', '+18092345678', 'DO'],
    ['Puerto Rico +1 787 (a US territory, but its own ISO country)', '+17875551234', 'PR'],
    ['Guernsey, inside +44 but not GB', '+447781123456', 'GG'],
    ['Germany', '+4930123456', 'DE'],
    ['Japan', '+819012345678', 'JP'],
  ])('%s is not allowed by default', (_label, to, country) => {
    expect(checkDestination(to, opts)).toEqual({
      code: 'destination_not_allowed',
      message: expect.stringContaining(country),
      details: { country, allowed: ALLOWED, rule: 'allowed_countries' },
    });
  });

  it('follows the deployment setting, case-insensitively', () => {
    const withJm = { ...opts, allowedCountries: ['us', 'jm'] };
    expect(checkDestination('+18762345678', withJm)).toBeNull();
    expect(checkDestination('+442079460000', withJm)).toMatchObject({
      code: 'destination_not_allowed',
      details: { country: 'GB', allowed: ['US', 'JM'] },
    });
  });
});

describe('checkDestination: blocked destinations', () => {
  it.each([
    ['US 900 premium rate', '+19002345678', 'premium_rate'],
    ['UK 09 premium rate', '+449098790000', 'premium_rate'],
    // libphonenumber files the UK 084x/087x "service charge" ranges under premium rate.
    ['UK 0845 service number', '+448451234567', 'premium_rate'],
    ['AU 1900 premium rate', '+611900123456', 'premium_rate'],
    ['AU 1300 shared cost', '+611300123456', 'shared_cost'],
    ['AU 13 xx xx shared cost', '+61131234', 'shared_cost'],
    ['IL 1700 shared cost', '+9721700123456', 'shared_cost'],
  ])('%s %s → %s', (_label, to, category) => {
    expect(checkDestination(to, opts)).toMatchObject({
      code: 'destination_blocked',
      details: { category, rule: 'number_type' },
    });
  });

  it.each([
    ['Iridium (GMSS +881)', '+881612345678', 'satellite', '+881'],
    ['Inmarsat +870', '+870773111111', 'satellite', '+870'],
    ['Thuraya +882 16', '+88216123456', 'satellite', '+88216'],
    ['international network +882', '+882345678901', 'international_network', '+882'],
    ['international network +883', '+883510012345', 'international_network', '+883'],
    ['universal freephone +800', '+80012345678', 'international_network', '+800'],
    ['international premium rate +979', '+979123456789', 'premium_rate', '+979'],
  ])('%s %s → %s', (_label, to, category, prefix) => {
    expect(checkDestination(to, opts)).toMatchObject({
      code: 'destination_blocked',
      details: { category, rule: 'global_code', prefix },
    });
  });

  it.each([
    ['Cuba', '+5351234567', '+53'],
    ['Papua New Guinea', '+67570123456', '+675'],
    ['Somalia', '+252907100000', '+252'],
    ['Mali', '+22365012345', '+223'],
  ])('%s %s is on the IRSF list', (_label, to, prefix) => {
    const f = checkDestination(to, opts);
    expect(f).toMatchObject({
      code: 'destination_blocked',
      details: { category: 'irsf', rule: 'irsf_list', prefix },
    });
    expect(f?.message).toContain(prefix);
  });

  it('blocks even where the country is allowed, and reports the longest matching prefix', () => {
    const irsf = {
      source: 'test',
      ranges: [{ prefix: '+44' }, { prefix: '+44207946', note: 'a test range' }, { prefix: '+4420' }],
    };
    const f = checkDestination('+442079460000', { allowedCountries: ['GB'], irsf });
    expect(f).toMatchObject({
      code: 'destination_blocked',
      details: { category: 'irsf', prefix: '+44207946' },
    });
    expect(f?.message).toContain('a test range');
    expect(checkDestination('+447400123456', { allowedCountries: ['GB'], irsf })).toMatchObject({
      details: { prefix: '+44' },
    });
  });

  it('checks blocks before the country rule', () => {
    // Latvia is not allowed, but its premium range must be reported as what it is.
    expect(checkDestination('+37190000000', opts)).toMatchObject({
      code: 'destination_blocked',
      details: { category: 'premium_rate' },
    });
    expect(checkDestination('+5351234567', { ...opts, allowedCountries: ['CU'] })).toMatchObject({
      code: 'destination_blocked',
      details: { category: 'irsf' },
    });
  });
});

describe('loadIrsfList', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-irsf-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, body: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, body);
    return f;
  };

  it('ships a default list with a source, a note on each entry, and no US or Canadian area code', () => {
    const list = loadIrsfList(DEFAULT_IRSF_FILE);
    expect(list.source).toMatch(/GSMA/);
    expect(list.ranges.length).toBeGreaterThan(20);
    for (const r of list.ranges) {
      expect(r.note, r.prefix).toBeTruthy();
      if (r.prefix.startsWith('+1')) {
        // Fill the prefix out to a full NANP number, so the library says which country the area code is.
        const n = parsePhoneNumberFromString((r.prefix + '2345678901').slice(0, 12));
        expect(['US', 'CA'], r.prefix).not.toContain(n?.country);
      }
    }
  });

  it('reads a custom file', () => {
    const f = write('ok.json', JSON.stringify({ source: 'my carrier', ranges: [{ prefix: '+4420' }] }));
    expect(loadIrsfList(f)).toEqual({ source: 'my carrier', ranges: [{ prefix: '+4420' }] });
  });

  it('names the bad entry', () => {
    const f = write(
      'bad.json',
      JSON.stringify({ source: 's', ranges: [{ prefix: '+53' }, { prefix: '+1 876', note: 'x' }] }),
    );
    expect(() => loadIrsfList(f)).toThrow(
      /bad\.json is invalid[\s\S]*ranges\[1\] \(prefix "\+1 876"\): prefix must be/,
    );
  });

  it('rejects a duplicate prefix, a missing source, broken JSON and a missing file', () => {
    expect(() =>
      loadIrsfList(
        write('dup.json', JSON.stringify({ source: 's', ranges: [{ prefix: '+53' }, { prefix: '+53' }] })),
      ),
    ).toThrow(/ranges\[1\] \(prefix "\+53"\): listed twice/);
    expect(() => loadIrsfList(write('nosrc.json', JSON.stringify({ ranges: [] })))).toThrow(/source/);
    expect(() => loadIrsfList(write('broken.json', '{"source": "s", "ranges": ['))).toThrow(
      /broken\.json cannot be read/,
    );
    expect(() => loadIrsfList(path.join(dir, 'absent.json'))).toThrow(
      /absent\.json cannot be read: the file does not exist/,
    );
  });
});
