import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// Full metadata: the "min" build cannot tell number types apart, and premium-rate/shared-cost blocking needs them.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';

export interface IrsfList {
  ranges: { prefix: string; note?: string }[];
  source: string;
}

export interface GuardrailOptions {
  allowedCountries: readonly string[];
  irsf: IrsfList;
}

export type GuardrailFailure =
  | { code: 'invalid_number'; message: string; details: { field: 'to' | 'callerId'; rule: string } }
  | {
      code: 'destination_not_allowed';
      message: string;
      details: { country: string | null; allowed: string[]; rule: 'allowed_countries' };
    }
  | {
      code: 'destination_blocked';
      message: string;
      details: {
        category: 'premium_rate' | 'shared_cost' | 'satellite' | 'international_network' | 'irsf';
        rule: string;
        prefix?: string;
      };
    };

type BlockCategory = Extract<GuardrailFailure, { code: 'destination_blocked' }>['details']['category'];

const E164 = /^\+[1-9]\d{7,14}$/;

/** '+' then 8–15 digits, the first 1–9: the only form the API accepts, with no spaces or punctuation. */
export function isStrictE164(s: string): boolean {
  return E164.test(s);
}

/**
 * ITU global codes that belong to no country. Numbers there bill at satellite or carrier rates that
 * the caller cannot predict, and several ranges are favourite IRSF terminations, so they are never dialled.
 * Longer prefixes come first where a range inside a code is a different kind of service.
 */
const GLOBAL_CODES: { prefix: string; category: BlockCategory; name: string }[] = [
  { prefix: '+88216', category: 'satellite', name: 'Thuraya satellite network' },
  { prefix: '+870', category: 'satellite', name: 'Inmarsat' },
  { prefix: '+881', category: 'satellite', name: 'Global Mobile Satellite System' },
  { prefix: '+882', category: 'international_network', name: 'international networks' },
  { prefix: '+883', category: 'international_network', name: 'international networks' },
  { prefix: '+800', category: 'international_network', name: 'universal international freephone' },
  { prefix: '+808', category: 'international_network', name: 'universal international shared cost' },
  { prefix: '+878', category: 'international_network', name: 'universal personal telecommunications' },
  { prefix: '+888', category: 'international_network', name: 'OCHA humanitarian telecommunications' },
  { prefix: '+979', category: 'premium_rate', name: 'international premium rate service' },
  { prefix: '+991', category: 'international_network', name: 'international public correspondence trial' },
  { prefix: '+3883', category: 'international_network', name: 'the European Telephony Numbering Space' },
];

/** Strict E.164 and a number that exists in its country's numbering plan; `field` names the request field. */
export function checkNumberFormat(value: string, field: 'to' | 'callerId'): GuardrailFailure | null {
  if (!isStrictE164(value)) {
    return {
      code: 'invalid_number',
      message: `${field} must be an E.164 number: '+' followed by 8 to 15 digits, such as +14155552671`,
      details: { field, rule: 'e164_format' },
    };
  }
  const parsed = parsePhoneNumberFromString(value);
  if (!parsed?.isValid()) {
    return {
      code: 'invalid_number',
      message: `${field} ${value} is not a valid phone number in its country's numbering plan`,
      details: { field, rule: 'not_a_valid_number' },
    };
  }
  return null;
}

/**
 * Runs every guardrail on a destination, cheapest and most certain first: format, global codes,
 * validity, number type, the IRSF list, then the allowed countries. The blocks come before the
 * country rule, so a blocked range is reported as blocked even where its country is not allowed either.
 */
export function checkDestination(to: string, opts: GuardrailOptions): GuardrailFailure | null {
  if (!isStrictE164(to)) return checkNumberFormat(to, 'to');

  // Before validity: the library's metadata for these codes is sparse, and "blocked" is the truer answer.
  const global = GLOBAL_CODES.find((g) => to.startsWith(g.prefix));
  if (global) {
    return blocked(
      global.category,
      `global_code`,
      `${to} is on ${global.name} (${global.prefix}), which agentline never dials`,
      global.prefix,
    );
  }

  const invalid = checkNumberFormat(to, 'to');
  if (invalid) return invalid;
  const parsed = parsePhoneNumberFromString(to)!;

  const type = parsed.getType();
  if (type === 'PREMIUM_RATE') {
    return blocked(
      'premium_rate',
      'number_type',
      `${to} is a premium-rate number; agentline never dials those`,
    );
  }
  if (type === 'SHARED_COST') {
    return blocked(
      'shared_cost',
      'number_type',
      `${to} is a shared-cost number; agentline never dials those`,
    );
  }

  const range = longestIrsfMatch(to, opts.irsf);
  if (range) {
    const why = range.note ? ` (${range.note})` : '';
    return blocked(
      'irsf',
      'irsf_list',
      `${to} is in ${range.prefix}, a range on the deployment's list of revenue share fraud destinations${why}`,
      range.prefix,
    );
  }

  const country = parsed.country ?? null;
  const allowed = opts.allowedCountries.map((c) => c.toUpperCase());
  if (!country || !allowed.includes(country)) {
    return {
      code: 'destination_not_allowed',
      message: `${to} is in ${country ?? 'no country'}; this deployment calls only ${allowed.join(', ')}`,
      details: { country, allowed, rule: 'allowed_countries' },
    };
  }
  return null;
}

function blocked(category: BlockCategory, rule: string, message: string, prefix?: string): GuardrailFailure {
  return {
    code: 'destination_blocked',
    message,
    details: prefix === undefined ? { category, rule } : { category, rule, prefix },
  };
}

function longestIrsfMatch(to: string, list: IrsfList): IrsfList['ranges'][number] | null {
  let best: IrsfList['ranges'][number] | null = null;
  for (const r of list.ranges) {
    if (to.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  return best;
}

const irsfFileSchema = z.object({
  source: z.string().trim().min(1, 'source must name where the ranges come from'),
  ranges: z.array(
    z.object({
      prefix: z
        .string()
        .regex(/^\+[1-9]\d{0,14}$/, "prefix must be '+' followed by 1 to 15 digits, the first 1-9"),
      note: z.string().optional(),
    }),
  ),
});

export const DEFAULT_IRSF_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../data/irsf-ranges.json',
);

/** Reads and validates the IRSF list; every problem names the file and the entry, so a bad edit fails at startup. */
export function loadIrsfList(file: string = DEFAULT_IRSF_FILE): IrsfList {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'the file does not exist' : e.message;
    throw new Error(`IRSF list ${file} cannot be read: ${why}`);
  }
  const parsed = irsfFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const [top, index] = i.path;
      if (top === 'ranges' && typeof index === 'number') {
        const entry = (raw as { ranges: unknown[] }).ranges[index];
        const shown = JSON.stringify((entry as { prefix?: unknown } | null)?.prefix ?? entry);
        return `ranges[${index}] (prefix ${shown}): ${i.message}`;
      }
      return `${i.path.join('.') || '(root)'}: ${i.message}`;
    });
    throw new Error(`IRSF list ${file} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  const seen = new Set<string>();
  for (const [i, r] of parsed.data.ranges.entries()) {
    if (seen.has(r.prefix)) {
      throw new Error(`IRSF list ${file} is invalid:\n  - ranges[${i}] (prefix "${r.prefix}"): listed twice`);
    }
    seen.add(r.prefix);
  }
  return parsed.data;
}
