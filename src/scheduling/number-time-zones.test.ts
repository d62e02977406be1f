import { getCountry } from 'countries-and-timezones';
import { timezones } from 'libphonenumber-geo-carrier';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { rangeZonesOf, timeZonesOf } from './number-time-zones.js';

const sorted = (zones: string[]) => [...zones].sort();

describe('timeZonesOf', () => {
  it('places a fixed-line range in its zone', async () => {
    expect(await timeZonesOf('+12125550123')).toEqual(['America/New_York']);
    expect(await timeZonesOf('+14155552671')).toEqual(['America/Los_Angeles']);
    expect(await timeZonesOf('+442071234567')).toEqual(['Europe/London']);
    expect(await timeZonesOf('+61298765432')).toEqual(['Australia/Sydney']);
  });

  it('gives every zone of an ambiguous range', async () => {
    expect(sorted(await timeZonesOf('+19075551234'))).toEqual(['America/Adak', 'America/Anchorage']);
    expect(sorted(await timeZonesOf('+61881234567'))).toEqual(['Australia/Adelaide', 'Australia/Perth']);
  });

  it("falls back to the country's zones where the data knows only the calling code", async () => {
    // +1 800 matches the data's "1" entry, all of NANP (Guam to Newfoundland); US zones only.
    expect((await rangeZonesOf('+18005551234'))?.prefix).toBe('1');
    expect(sorted(await timeZonesOf('+18005551234'))).toEqual(sorted(getCountry('US')?.timezones ?? []));
  });

  it("falls back to the country's zones for mobile numbers, which the data pins to one city", async () => {
    // The data says Sydney for every +61 4 mobile; a Perth mobile would ring two hours early.
    expect((await rangeZonesOf('+61412345678'))?.zones).toEqual(['Australia/Sydney']);
    const zones = await timeZonesOf('+61412345678');
    expect(sorted(zones)).toEqual(sorted(getCountry('AU')?.timezones ?? []));
    expect(zones).toContain('Australia/Perth');
  });

  it('returns each zone once, and only zones Intl knows', async () => {
    for (const number of [
      '+19075551234',
      '+18005551234',
      '+61412345678',
      '+447911123456',
      '+6421123456',
      '+79161234567',
    ]) {
      const zones = await timeZonesOf(number);
      expect(zones.length, number).toBeGreaterThan(0);
      expect(new Set(zones).size, number).toBe(zones.length);
      for (const zone of zones)
        expect(() => new Intl.DateTimeFormat('en', { timeZone: zone }), zone).not.toThrow();
    }
  });

  it('throws for an invalid number and for one no zone is known for', async () => {
    await expect(timeZonesOf('+15555551234')).rejects.toThrow(/invalid/);
    await expect(timeZonesOf('not a number')).rejects.toThrow(/invalid/);
    await expect(timeZonesOf('+80012345678')).rejects.toThrow(/no time zone/);
  });

  it("reads the library's data exactly as its timezones() does", async () => {
    const numbers = [
      '+12085550123', // 208: split between Mountain and Pacific by exchange
      '+12082012345',
      '+19075551234',
      '+18085550100',
      '+18005551234',
      '+61881234567',
      '+61412345678',
      '+442071234567',
      '+447911123456',
      '+6421123456',
      '+97221234567',
      '+79161234567',
      '+4930123456',
      '+525512345678',
    ];
    for (const number of numbers) {
      const library = await timezones(parsePhoneNumberFromString(number));
      expect((await rangeZonesOf(number))?.zones ?? null, number).toEqual(library);
    }
  });
});
