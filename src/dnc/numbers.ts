import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export type NormalisedNumber =
  | { ok: true; number: string }
  | { ok: false; code: 'invalid_number'; message: string };

const STRICT_E164 = /^\+[1-9]\d{7,14}$/;

/** '+' then 8–15 digits with no spaces or punctuation: the form a number in a URL path or the list file must have. */
export function isStrictE164(s: string): boolean {
  return STRICT_E164.test(s);
}

/**
 * A number written by a person (spaces, dashes, dots, brackets allowed) as strict E.164, or why not.
 * It must be international (start with '+'): there is no default country to read a national number in,
 * and it must exist in its country's numbering plan, since only such numbers can ever be dialled.
 */
export function normaliseNumber(raw: string): NormalisedNumber {
  const value = raw.trim();
  if (value === '')
    return { ok: false, code: 'invalid_number', message: 'empty value; expected an E.164 number' };
  if (!value.startsWith('+')) {
    return {
      code: 'invalid_number',
      ok: false,
      message: `${value} is not international: write it in E.164 with '+' and the country code, such as +14155552671`,
    };
  }
  if (!/^\+[\d\s().-]+$/.test(value)) {
    return {
      ok: false,
      code: 'invalid_number',
      message: `${value} has characters a phone number cannot have`,
    };
  }
  const parsed = parsePhoneNumberFromString(value);
  if (!parsed?.isValid()) {
    return {
      ok: false,
      code: 'invalid_number',
      message: `${value} is not a valid phone number in its country's numbering plan`,
    };
  }
  return { ok: true, number: parsed.number };
}
