import { describe, expect, it } from 'vitest';
import { buildExtractionSchema, buildSummarySchema, coerceExtracted, FIELD_MAX_CHARS } from './schema.js';

const fields = [
  { name: 'booked', type: 'boolean' as const, description: 'whether a table was booked' },
  { name: 'party_size', type: 'number' as const },
  { name: 'time', type: 'string' as const, description: 'the booked time' },
];

describe('buildExtractionSchema', () => {
  it('makes every field required, typed and nullable, with descriptions and no other keys', () => {
    expect(buildExtractionSchema(fields)).toEqual({
      type: 'object',
      properties: {
        booked: { type: ['boolean', 'null'], description: 'whether a table was booked' },
        party_size: { type: ['number', 'null'] },
        time: { type: ['string', 'null'], maxLength: FIELD_MAX_CHARS, description: 'the booked time' },
      },
      required: ['booked', 'party_size', 'time'],
      additionalProperties: false,
    });
  });

  it('defaults a field without a type to string', () => {
    const s = buildExtractionSchema([{ name: 'note' } as never]);
    expect((s.properties as Record<string, unknown>).note).toEqual({
      type: ['string', 'null'],
      maxLength: FIELD_MAX_CHARS,
    });
  });

  it('wraps it with a summary for the post-call answer', () => {
    const s = buildSummarySchema(fields);
    expect(s.required).toEqual(['summary', 'extracted']);
    expect((s.properties as Record<string, { type: unknown }>).summary.type).toBe('string');
    expect((s.properties as Record<string, unknown>).extracted).toEqual(buildExtractionSchema(fields));
  });
});

describe('coerceExtracted', () => {
  it('keeps well-typed values, drops unknown keys and fills missing ones with null', () => {
    expect(coerceExtracted(fields, { booked: true, time: '7 pm', extra: 'x' })).toEqual({
      booked: true,
      party_size: null,
      time: '7 pm',
    });
  });

  it('converts convertible strings and nulls what cannot be converted', () => {
    expect(coerceExtracted(fields, { booked: 'yes', party_size: '2', time: 7 })).toEqual({
      booked: true,
      party_size: 2,
      time: '7',
    });
    expect(coerceExtracted(fields, { booked: 'maybe', party_size: 'two', time: { h: 7 } })).toEqual({
      booked: null,
      party_size: null,
      time: null,
    });
    expect(coerceExtracted(fields, { booked: 'unknown', party_size: Number.NaN, time: 'N/A' })).toEqual({
      booked: null,
      party_size: null,
      time: null,
    });
  });

  it('gives all nulls for an answer that is not an object', () => {
    for (const raw of [null, 'text', 42, ['a']]) {
      expect(coerceExtracted(fields, raw)).toEqual({ booked: null, party_size: null, time: null });
    }
  });
});
